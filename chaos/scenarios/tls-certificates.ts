// Hostile clients of the mesh (mTLS) port, by the certificate they present: none, self-signed,
// expired, another CA's, the mesh CA's but another identity than the one the inbound
// authorization allows. Each sends an HTTP/1 request that forges weft-client-id; none may reach
// the application, each is refused and counted as the proxy's metrics say, and the allowed
// identity is still served (with the proxy's weft-client-id).
import { identityName } from '../../src/identity/names.js';
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import {
  ALLOWED_CLIENT,
  allowedServed,
  attempt,
  type ClientCert,
  fdsBackTo,
  type MeshPort,
  metric,
  otherCaCert,
  selfSignedCert,
  startMeshPort,
} from './tls-mesh-port.js';

interface CertCase {
  readonly name: string;
  readonly what: string;
  /** The certificate the hostile client presents (none: undefined). */
  cert(port: MeshPort, ctx: ScenarioContext): Promise<ClientCert | undefined>;
  /** The proxy's counter that must count each attempt. */
  readonly counter: { readonly name: string; readonly labels: Record<string, string> };
}

const INTRUDER = identityName('intruder', 'default');
const handshakeFailure = (reason: string) => ({
  name: 'tls_handshake_failures_total',
  labels: { direction: 'inbound', reason },
});
const unauthorized = {
  name: 'tcp_refused_total',
  labels: { direction: 'inbound', reason: 'unauthorized' },
};

const CASES: readonly CertCase[] = [
  {
    name: 'tls-no-client-cert',
    what: 'TLS without a client certificate',
    cert: async () => undefined,
    counter: unauthorized,
  },
  {
    name: 'tls-self-signed',
    what: 'a self-signed client certificate naming the allowed identity',
    cert: async (_port, ctx) => selfSignedCert(ctx.dir, ALLOWED_CLIENT),
    counter: handshakeFailure('untrusted'),
  },
  {
    name: 'tls-expired',
    what: "an expired client certificate from the mesh's CA naming the allowed identity",
    cert: (port) => port.issue(ALLOWED_CLIENT, { expired: true }),
    counter: handshakeFailure('expired'),
  },
  {
    name: 'tls-other-ca',
    what: "another CA's client certificate naming the allowed identity",
    cert: () => otherCaCert(ALLOWED_CLIENT),
    counter: handshakeFailure('untrusted'),
  },
  {
    name: 'tls-other-identity',
    what: "a valid client certificate from the mesh's CA for an identity the policy does not allow",
    cert: (port) => port.issue(INTRUDER),
    counter: unauthorized,
  },
];

async function runCase(c: CertCase, ctx: ScenarioContext): Promise<ScenarioResult> {
  const attempts = ctx.short ? 5 : 100;
  const port = await startMeshPort(ctx, { handshakeTimeoutMs: 2_000, detectTimeoutMs: 2_000 });
  try {
    const cert = await c.cert(port, ctx);
    // Warm the proxy up with one allowed request, so before/after compare a serving proxy.
    const warm = await allowedServed(port);
    const before = port.sample();
    const counted0 = await metric(port, c.counter.name, c.counter.labels);
    const appConnections0 = port.app.connections();
    const appRequests0 = port.app.heads.length;
    const results = await Promise.all(Array.from({ length: attempts }, () => attempt(port, cert)));
    const counted = (await metric(port, c.counter.name, c.counter.labels)) - counted0;
    const reachedApp = port.app.connections() - appConnections0;
    const appRequests = port.app.heads.length - appRequests0;
    const served = results.filter((r) => r.status === 200).length;
    const answered403 = results.filter((r) => r.status === 403).length;
    const closed = results.filter((r) => r.status === 0).length;
    const stillServed = await allowedServed(port);
    const fds = await fdsBackTo(port, before.fds);
    const after = { ...port.sample(), fds };
    const pass =
      warm &&
      stillServed &&
      served === 0 &&
      reachedApp === 0 &&
      counted === attempts &&
      fds <= before.fds + 2;
    return {
      did: `${attempts} clients presented ${c.what} to the mesh port, each sending a request with a forged weft-client-id`,
      outcome:
        `${served} served, ${answered403} answered 403, ${closed} closed; ${counted} counted as ${c.counter.name}` +
        `{${Object.entries(c.counter.labels)
          .map(([k, v]) => `${k}="${v}"`)
          .join(',')}}; ${reachedApp} connections and ${appRequests} requests reached the app; ` +
        `the allowed identity ${stillServed ? 'still served' : 'NOT served'}`,
      before,
      after,
      pass,
      figures: {
        attempts,
        served,
        answered403,
        closed,
        counted,
        reachedApp,
        appRequests,
        allowedStillServed: stillServed,
      },
    };
  } finally {
    await port.close();
  }
}

export const tlsCertificateScenarios: readonly Scenario[] = CASES.map((c) => ({
  name: c.name,
  group: 'tls',
  goal: `${c.what}: refused and counted, nothing reaches the app, the allowed identity still served, fds back to baseline`,
  inShortForm: true,
  run: (ctx: ScenarioContext) => runCase(c, ctx),
}));
