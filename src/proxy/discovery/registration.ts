import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { controlPlaneClient, unary } from '../../grpc/client.js';
import type { LeaseMessage, WorkloadMessage } from '../../grpc/protos.js';
import type { HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import type { WorkloadIdentity } from '../config.js';
import { Backoff } from './backoff.js';

const CALL_TIMEOUT_MS = 2000;
/** Answers that retrying cannot change: bad input, or a credential that does not allow it. */
const REFUSALS: ReadonlySet<grpc.status> = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
]);

/**
 * Keeps this proxy's workload registered with the control plane. `start` registers it as
 * starting (known, given its identity token, but not an endpoint) and resolves with the
 * first Lease, which says how to get a certificate; `serve` registers it as ready, which
 * makes it an endpoint. The lease is renewed at a third of its length (so two renewals
 * may fail before it lapses), with backoff while the control plane is away, and `stop`
 * deregisters on shutdown. Every call carries the credential in `tokenFile` (read once, at
 * start), which the control plane issued for this instance (or the owner's).
 */
export class Registration {
  private client: grpc.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff(200, 2000);
  private stopped = false;
  private registered = false;
  private inFlight = false;
  private lastFailure: string | undefined;
  private readonly message: WorkloadMessage;
  /** Waiting for the first Lease (starting) or the first registration as ready (serving). */
  private waiting: { starting: boolean; resolve(lease: LeaseMessage): void; reject(err: Error): void }[] = [];

  constructor(
    private readonly addr: HostPort,
    identity: WorkloadIdentity,
    private readonly tokenFile: string,
    private readonly log: Logger,
  ) {
    this.message = {
      namespace: identity.namespace,
      name: identity.workload,
      pod: identity.pod,
      serviceAccount: identity.serviceAccount,
      labels: { ...identity.labels },
      address: identity.advertise.host,
      port: identity.advertise.port,
      namedPorts: { ...identity.namedPorts },
      starting: true,
    };
  }

  /** The address peers (and viz) reach this instance on. */
  get address(): string {
    return this.message.address;
  }

  /**
   * Registers the workload as starting, retrying until the control plane answers; resolves
   * with its first Lease. Rejects if the control plane refuses the registration or `stop`
   * is called first.
   */
  start(): Promise<LeaseMessage> {
    let credential: string;
    try {
      credential = readFileSync(this.tokenFile, 'latin1').trim();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return Promise.reject(
        new Error(`cannot read the control plane credential ${this.tokenFile}: ${e.code ?? e.message}`),
      );
    }
    this.client = controlPlaneClient('registry', this.addr, credential);
    const lease = this.wait(true);
    void this.renew();
    return lease;
  }

  /**
   * Registers the workload as ready, so it becomes an endpoint; resolves once the control
   * plane has taken that. `inboundPort` (the bound inbound listener) is advertised when the
   * configured port is 0, unless the workload owns its address (transparent mode: port 0
   * tells the control plane that peers dial each Service's targetPort). `ports` are the
   * bound listeners that serve on the same address: the inbound one, where meshed peers
   * send opaque TCP, and the admin and tap ones, where viz reaches this proxy.
   */
  serve(
    inboundPort: number,
    ownsAddress = false,
    ports: { readonly inbound?: number; readonly admin?: number; readonly tap?: number } = {},
  ): Promise<void> {
    if (this.message.port === 0 && !ownsAddress) this.message.port = inboundPort;
    this.message.inboundPort = ports.inbound ?? 0;
    this.message.adminPort = ports.admin ?? 0;
    this.message.tapPort = ports.tap ?? 0;
    this.message.starting = false;
    // Logs "workload registered" once the control plane has it as ready.
    this.registered = false;
    const served = this.wait(false);
    if (!this.inFlight) {
      // Otherwise the call in flight, when it ends, registers again as ready at once.
      clearTimeout(this.timer);
      void this.renew();
    }
    return served.then(() => {});
  }

  private wait(starting: boolean): Promise<LeaseMessage> {
    if (this.stopped) return Promise.reject(new Error('the registration was stopped'));
    return new Promise((resolve, reject) => this.waiting.push({ starting, resolve, reject }));
  }

  private async renew(): Promise<void> {
    if (this.stopped || !this.client) return;
    const client = this.client;
    const starting = this.message.starting === true;
    let delay: number;
    this.inFlight = true;
    try {
      const lease = await unary<WorkloadMessage, LeaseMessage>(
        client,
        'register',
        { ...this.message },
        CALL_TIMEOUT_MS,
      ).finally(() => {
        this.inFlight = false;
      });
      if (this.stopped) return;
      if (starting !== (this.message.starting === true)) {
        // serve() was called during this call: register again as ready at once.
        delay = 0;
      } else {
        if (!this.registered) {
          this.registered = true;
          this.log.info(
            { namespace: this.message.namespace, pod: this.message.pod, ttlMs: lease.ttlMs },
            starting ? 'workload registered as starting' : 'workload registered',
          );
        }
        this.lastFailure = undefined;
        this.settle(starting, lease);
        this.backoff.reset();
        delay = Math.max(100, lease.ttlMs / 3);
      }
    } catch (err) {
      if (this.stopped) return;
      const e = err as grpc.ServiceError;
      if (REFUSALS.has(e.code)) {
        this.log.error(
          { code: grpc.status[e.code], details: e.details },
          'the control plane refused this workload registration',
        );
        this.fail(new Error(`the control plane refused this workload registration: ${e.details}`));
        return;
      }
      // Once per outage (or change of reason); the retries in between are debug.
      const level = this.registered || e.details !== this.lastFailure ? 'warn' : 'debug';
      const fields = { code: grpc.status[e.code], details: e.details };
      if (this.registered) this.log[level](fields, 'lease renewal failed; retrying');
      else this.log[level](fields, 'cannot register the workload; retrying');
      this.lastFailure = e.details;
      this.registered = false;
      delay = this.backoff.next();
    }
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.renew(), delay);
    this.timer.unref();
  }

  private settle(starting: boolean, lease: LeaseMessage): void {
    // A registration as ready also answers whoever waits for the first Lease.
    const done = this.waiting.filter((w) => !starting || w.starting);
    this.waiting = this.waiting.filter((w) => !done.includes(w));
    for (const w of done) w.resolve(lease);
  }

  private fail(err: Error): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.reject(err);
  }

  /** Stops renewing and removes the registration, so peers stop sending at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.fail(new Error('the registration was stopped'));
    if (!this.client) return;
    try {
      await unary(
        this.client,
        'deregister',
        { namespace: this.message.namespace, pod: this.message.pod },
        1000,
      );
    } catch {
      // The lease lapses on its own.
    }
    this.client.close();
  }
}
