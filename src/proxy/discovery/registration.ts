import * as grpc from '@grpc/grpc-js';
import { controlPlaneClient, unary } from '../../grpc/client.js';
import type { WorkloadMessage } from '../../grpc/protos.js';
import type { HostPort } from '../../util/addr.js';
import type { Logger } from '../../util/log.js';
import type { WorkloadIdentity } from '../config.js';
import { Backoff } from './backoff.js';

const CALL_TIMEOUT_MS = 2000;

/**
 * Keeps this proxy's workload registered with the control plane: registers at start,
 * renews the lease at a third of its length (so two renewals may fail before it lapses),
 * retries with backoff while the control plane is away, and deregisters on shutdown.
 */
export class Registration {
  private readonly client: grpc.Client;
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff(200, 2000);
  private stopped = false;
  private registered = false;
  private readonly message: WorkloadMessage;

  constructor(
    addr: HostPort,
    identity: WorkloadIdentity,
    private readonly log: Logger,
  ) {
    this.client = controlPlaneClient('registry', addr);
    this.message = {
      namespace: identity.namespace,
      name: identity.workload,
      pod: identity.pod,
      serviceAccount: identity.serviceAccount,
      labels: { ...identity.labels },
      address: identity.advertise.host,
      port: identity.advertise.port,
      namedPorts: {},
    };
  }

  /** Starts registering; `inboundPort` is the bound inbound port, advertised when the configured one is 0. */
  start(inboundPort: number): void {
    if (this.message.port === 0) this.message.port = inboundPort;
    void this.renew();
  }

  private async renew(): Promise<void> {
    if (this.stopped) return;
    let delay: number;
    try {
      const lease = await unary<WorkloadMessage, { ttlMs: number }>(
        this.client,
        'register',
        this.message,
        CALL_TIMEOUT_MS,
      );
      if (!this.registered) {
        this.registered = true;
        this.log.info(
          { namespace: this.message.namespace, pod: this.message.pod, ttlMs: lease.ttlMs },
          'workload registered',
        );
      }
      this.backoff.reset();
      delay = Math.max(100, lease.ttlMs / 3);
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.INVALID_ARGUMENT) {
        this.log.error({ details: e.details }, 'the control plane refused this workload registration');
        return;
      }
      if (this.registered) this.log.warn({ details: e.details }, 'lease renewal failed; retrying');
      this.registered = false;
      delay = this.backoff.next();
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), delay);
    this.timer.unref();
  }

  /** Stops renewing and removes the registration, so peers stop sending at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
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
