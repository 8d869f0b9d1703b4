// The impersonation attack of issue 18 against a real `weft up`: a local process registers
// itself as another endpoint of a meshed Service, or deregisters the real one, without a
// credential, with a forged one, and with a pod credential that names another pod.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkloadMessage } from '../../src/grpc/protos.js';
import {
  callAs,
  Load,
  serviceYaml,
  startClientProxy,
  startReplica,
  weftOk,
} from '../../test/helpers/controlplane.js';
import { Cleanup, refusedPort, startHttpServer } from '../../test/helpers/net.js';
import { weftRun } from '../../test/helpers/pods.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { answers, outcomeOf, type Plane, withPlane } from './control-plane-shared.js';

async function endpoints(p: Plane): Promise<string[]> {
  const res = await callAs<{ objects: string[] }>(
    p.cp,
    'resources',
    'list',
    { kind: 'endpoints', name: 'web' },
    p.owner,
  );
  return res.objects
    .flatMap((o) => (JSON.parse(o) as { ports: Array<{ addresses: Array<{ address: string }> }> }).ports)
    .flatMap((port) => port.addresses.map((a) => a.address))
    .sort();
}

export const impersonation: Scenario = {
  name: 'control-plane-impersonation',
  group: 'control-plane',
  goal: "registering as another Service's endpoint, or deregistering it, is refused without its pod's credential; endpoints unchanged, no request reaches the attacker",
  inShortForm: true,
  run: (ctx) =>
    withPlane(ctx, async (p): Promise<ScenarioResult> => {
      const cleanup = new Cleanup();
      try {
        await weftOk(p.cp, ['apply', '-f', '-'], serviceYaml('web'));
        await startReplica(p.cp, { name: 'web-1' }, cleanup);
        const client = await startClientProxy(p.cp, 'default', cleanup);
        // The attacker: a server of its own, and a pod credential of its own (pod "api").
        let stolen = 0;
        const attacker = await startHttpServer((_req, res) => {
          stolen++;
          res.end('attacker');
        });
        cleanup.add(() => attacker.close());
        const apiPort = await refusedPort();
        await weftRun(
          p.cp,
          ['api', '--port', String(apiPort)],
          [process.execPath, '-e', 'setInterval(() => {}, 1e6)'],
        );
        const credDir = join(p.cp.stateDir, 'credentials', 'default');
        const [credFile] = readdirSync(credDir);
        const podCredential = readFileSync(join(credDir, credFile ?? ''), 'latin1');
        const before = p.sample();
        const endpointsBefore = await endpoints(p);
        const evil = (pod: string): WorkloadMessage => ({
          namespace: 'default',
          name: 'web',
          pod,
          serviceAccount: 'web',
          labels: { app: 'web' },
          address: '127.0.0.1',
          port: attacker.port,
          namedPorts: {},
          starting: false,
        });
        const tries = ctx.short ? 20 : 200;
        const codes: Record<string, number> = {};
        const count = (o: { code: string }): void => {
          codes[o.code] = (codes[o.code] ?? 0) + 1;
        };
        const credentials = [undefined, `weft-owner-v1.${'A'.repeat(43)}`, podCredential];
        for (let i = 0; i < tries; i++) {
          for (const credential of credentials) {
            count(await outcomeOf(callAs(p.cp, 'registry', 'register', evil(`web-evil-${i}`), credential)));
            count(await outcomeOf(callAs(p.cp, 'registry', 'register', evil('web-1'), credential)));
            count(
              await outcomeOf(
                callAs(p.cp, 'registry', 'deregister', { namespace: 'default', pod: 'web-1' }, credential),
              ),
            );
          }
        }
        const endpointsAfter = await endpoints(p);
        const requests = ctx.short ? 200 : 2000;
        const load = new Load(client.outbound, {
          authority: 'web.default.svc.cluster.local',
          total: requests,
        });
        await load.done;
        const ok = load.samples.filter((s) => s.status === 200 && s.replica === 'web-1').length;
        const up = await answers(p);
        const accepted = codes.OK ?? 0;
        const unchanged = JSON.stringify(endpointsBefore) === JSON.stringify(endpointsAfter);
        return {
          did: `${tries * 9} Register/Deregister calls for web's endpoints (no credential, forged owner's, pod api's), then ${requests} requests to web`,
          outcome: `${Object.entries(codes)
            .map(([c, n]) => `${n} ${c}`)
            .join(
              ', ',
            )}; endpoints ${unchanged ? 'unchanged' : `CHANGED ${endpointsBefore} -> ${endpointsAfter}`}; ${ok}/${requests} answered by web-1, ${stolen} by the attacker; control plane ${up ? 'answers' : 'DOWN'}`,
          before,
          after: p.sample(),
          pass: accepted === 0 && unchanged && stolen === 0 && ok === requests && up,
          figures: { calls: tries * 9, accepted, requests, answeredByAttacker: stolen, answeredByWeb: ok },
        };
      } finally {
        await cleanup.run();
      }
    }),
};
