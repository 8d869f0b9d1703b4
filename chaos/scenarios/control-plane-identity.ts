// Hostile Identity API input against a real `weft up`: a CSR for another identity than the
// token proves, and bad, forged and expired tokens (at the Identity API and the Registry).
import { readFileSync } from 'node:fs';
import { identityClient, unary } from '../../src/grpc/client.js';
import type { LeaseMessage, WorkloadMessage } from '../../src/grpc/protos.js';
import { identityName } from '../../src/identity/names.js';
import { makeCsr } from '../../test/controlplane/identity/fixtures.js';
import { callAs } from '../../test/helpers/controlplane.js';
import { waitFor } from '../../test/helpers/net.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { answers, outcomeOf, type Plane, withPlane } from './control-plane-shared.js';

const workload = (pod: string, serviceAccount: string): WorkloadMessage => ({
  namespace: 'default',
  name: 'web',
  pod,
  serviceAccount,
  labels: { app: 'web' },
  address: '127.0.0.1',
  port: 0,
  namedPorts: {},
  starting: true,
});

/** Registers `pod` as the owner (as a hand-run proxy does) and returns its Lease's identity settings. */
async function lease(p: Plane, pod: string, serviceAccount: string) {
  const l = await callAs<LeaseMessage>(p.cp, 'registry', 'register', workload(pod, serviceAccount), p.owner);
  if (!l.identity) throw new Error('the Lease names no identity settings');
  return { ...l.identity, token: readFileSync(l.identity.tokenFile) };
}

function certifier(settings: { addr: string; trustAnchorsFile: string; serverName: string }) {
  const client = identityClient(settings.addr, readFileSync(settings.trustAnchorsFile), settings.serverName);
  return {
    certify: (identity: string, token: Buffer, csr: Buffer) =>
      outcomeOf(unary(client, 'certify', { identity, token, certificateSigningRequest: csr }, 10_000)),
    close: () => client.close(),
  };
}

/** The attempts' outcomes as one line: "name CODE, ...", and whether each had the code it should. */
function judge(attempts: Array<{ name: string; want: string; got: { code: string; details: string } }>) {
  return {
    line: attempts.map((a) => `${a.name} ${a.got.code}`).join(', '),
    ok: attempts.every((a) => a.got.code === a.want),
    wrong: attempts
      .filter((a) => a.got.code !== a.want)
      .map((a) => `${a.name}: ${a.got.code} ${a.got.details}`),
  };
}

export const csrForAnotherIdentity: Scenario = {
  name: 'control-plane-csr-identity',
  group: 'control-plane',
  goal: 'a CSR or identity other than the token proves is refused (PERMISSION_DENIED or INVALID_ARGUMENT), the right one signed',
  inShortForm: true,
  run: (ctx) =>
    withPlane(ctx, async (p): Promise<ScenarioResult> => {
      const before = p.sample();
      const web = await lease(p, 'web-1', 'web');
      const mine = identityName('web', 'default');
      const admin = identityName('admin', 'default');
      const c = certifier(web);
      try {
        const attempts = [
          // The token proves web; asking for admin's identity, with a CSR for it.
          {
            name: 'identity admin, CSR admin',
            want: 'PERMISSION_DENIED',
            got: await c.certify(admin, web.token, makeCsr(ctx.dir, admin).der),
          },
          // Asking for its own identity, but the CSR names admin.
          {
            name: 'identity web, CSR admin',
            want: 'INVALID_ARGUMENT',
            got: await c.certify(mine, web.token, makeCsr(ctx.dir, admin).der),
          },
          {
            name: 'identity web, CSR with two names',
            want: 'INVALID_ARGUMENT',
            got: await c.certify(
              mine,
              web.token,
              makeCsr(ctx.dir, mine, { san: `DNS:${mine},DNS:${admin}` }).der,
            ),
          },
          {
            name: 'identity in another trust domain',
            want: 'INVALID_ARGUMENT',
            got: await c.certify(
              mine.replace('cluster.local', 'evil.example'),
              web.token,
              makeCsr(ctx.dir, mine).der,
            ),
          },
          {
            name: 'the right CSR',
            want: 'OK',
            got: await c.certify(mine, web.token, makeCsr(ctx.dir, mine).der),
          },
        ];
        const j = judge(attempts);
        const up = await answers(p);
        return {
          did: `5 Certify calls with web's token: identities and CSRs for admin, two names, another trust domain, then the right one`,
          outcome: `${j.line}; control plane ${up ? 'answers' : 'DOWN'}${j.wrong.length ? `; wrong: ${j.wrong.join('; ')}` : ''}`,
          before,
          after: p.sample(),
          pass: j.ok && up,
          figures: { attempts: attempts.length, refused: attempts.filter((a) => a.got.code !== 'OK').length },
        };
      } finally {
        c.close();
      }
    }),
};

export const badTokens: Scenario = {
  name: 'control-plane-bad-token',
  group: 'control-plane',
  goal: 'a missing, malformed, forged or expired token is refused UNAUTHENTICATED (an oversized one RESOURCE_EXHAUSTED) at the Identity API and the Registry',
  inShortForm: true,
  run: (ctx) =>
    withPlane(
      ctx,
      async (p): Promise<ScenarioResult> => {
        const before = p.sample();
        const mine = identityName('web', 'default');
        const csr = makeCsr(ctx.dir, mine).der;
        // A token whose workload's lease lapsed: expired. The lease is 1 s and nobody renews it.
        const gone = await lease(p, 'web-gone', 'web');
        await waitFor(async () => {
          const r = await callAs<{ objects: string[] }>(
            p.cp,
            'resources',
            'list',
            { kind: 'workloads' },
            p.owner,
          );
          return !r.objects.some((o) => o.includes('"web-gone"'));
        }, 'the lease of web-gone to lapse');
        const c = certifier(gone);
        const forged = Buffer.from(`weft-local-v1.${'A'.repeat(43)}`);
        try {
          const attempts = [
            {
              name: 'Certify, no token',
              want: 'UNAUTHENTICATED',
              got: await c.certify(mine, Buffer.alloc(0), csr),
            },
            {
              name: 'Certify, garbage token',
              want: 'UNAUTHENTICATED',
              got: await c.certify(mine, Buffer.from('\u0000\u00ff garbage'), csr),
            },
            {
              name: 'Certify, forged token',
              want: 'UNAUTHENTICATED',
              got: await c.certify(mine, forged, csr),
            },
            {
              name: 'Certify, expired token',
              want: 'UNAUTHENTICATED',
              got: await c.certify(mine, gone.token, csr),
            },
            {
              // Past the Identity API's 64 KiB message limit: refused before it is parsed.
              name: 'Certify, 1 MB token',
              want: 'RESOURCE_EXHAUSTED',
              got: await c.certify(mine, Buffer.alloc(1 << 20, 0x41), csr),
            },
            {
              name: 'Register, no credential',
              want: 'UNAUTHENTICATED',
              got: await outcomeOf(callAs(p.cp, 'registry', 'register', workload('web-2', 'web'))),
            },
            {
              name: 'Register, forged owner credential',
              want: 'UNAUTHENTICATED',
              got: await outcomeOf(
                callAs(
                  p.cp,
                  'registry',
                  'register',
                  workload('web-2', 'web'),
                  `weft-owner-v1.${'B'.repeat(43)}`,
                ),
              ),
            },
            {
              name: 'Register, identity token as credential',
              want: 'UNAUTHENTICATED',
              got: await outcomeOf(
                callAs(p.cp, 'registry', 'register', workload('web-2', 'web'), gone.token.toString('latin1')),
              ),
            },
            {
              name: 'Apply, revoked pod credential',
              want: 'UNAUTHENTICATED',
              got: await outcomeOf(
                callAs(p.cp, 'resources', 'apply', { documents: [] }, `weft-pod-v1.${'C'.repeat(43)}`),
              ),
            },
          ];
          const j = judge(attempts);
          const log = p.cp.stdoutLines.join('\n');
          const leaked = [gone.token.toString('latin1'), p.owner].filter((t) => log.includes(t)).length;
          const up = await answers(p);
          return {
            did: `${attempts.length} calls with missing, garbage, forged, expired and oversized tokens (Identity API and Registry)`,
            outcome: `${j.line}; ${leaked} secrets in weft up's log; control plane ${up ? 'answers' : 'DOWN'}${j.wrong.length ? `; wrong: ${j.wrong.join('; ')}` : ''}`,
            before,
            after: p.sample(),
            pass: j.ok && up && leaked === 0,
            figures: { attempts: attempts.length, secretsLogged: leaked },
          };
        } finally {
          c.close();
        }
      },
      ['--lease-duration', '1s'],
    ),
};
