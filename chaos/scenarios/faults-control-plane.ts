// The control plane stopped under load (60 s; a few seconds in the short form) and restarted on the same
// state directory and address: the data plane keeps serving from what it has, and afterwards the
// control plane still serves the endpoints and the profile it had.

import { weftOk } from '../../test/helpers/controlplane.js';
import { sampleProcess } from '../context.js';
import { AUTHORITY, failureFigures, faultLoad, loadWith, retryableProfileYaml, startMesh } from '../mesh.js';
import type { Scenario } from '../scenario.js';

export const faultsControlPlaneDown: Scenario = {
  name: 'faults-control-plane-down',
  group: 'faults',
  goal: 'no failed request while the control plane is down; endpoints and profiles served after its restart',
  inShortForm: true,
  async run(ctx) {
    const mesh = await startMesh({ dir: ctx.dir, replicas: 2, manifest: retryableProfileYaml() });
    try {
      const downS = ctx.short ? 3 : 60;
      const { rate } = faultLoad(ctx.short);
      const seconds = downS + (ctx.short ? 4 : 20);
      const pid = mesh.client.proc.pid as number;
      const before = sampleProcess(pid);
      const samples = await loadWith(mesh, rate, seconds, async () => {
        await mesh.cp.stop('SIGKILL');
        ctx.log(`control plane SIGKILLed; down for ${downS} s`);
        await new Promise((r) => setTimeout(r, downS * 1000));
        await mesh.restartControlPlane();
        ctx.log('control plane restarted');
      });
      const after = sampleProcess(pid);
      const f = failureFigures(samples);
      const endpoints = await weftOk(mesh.cp, [
        'get',
        'endpoints',
        'web',
        '-n',
        'default',
        '-o',
        'json',
      ]).catch((e: Error) => e.message);
      const profiles = await weftOk(mesh.cp, ['get', 'serviceprofiles', '-n', 'default']).catch(
        (e: Error) => e.message,
      );
      const endpointsOk = mesh.replicas.every((r) => endpoints.includes(String(r.inbound.port)));
      const profileOk = profiles.includes(AUTHORITY.replace(':80', ''));
      return {
        did: `${f.requests} requests at ${rate} rps through the meshed hop; control plane SIGKILLed for ${downS} s, then restarted on its state`,
        outcome: `${f.failed} failed${f.failed ? ` (${f.kinds})` : ''}; after restart endpoints ${endpointsOk ? 'intact' : 'MISSING'}, profile ${profileOk ? 'intact' : 'MISSING'}`,
        before,
        after,
        pass: f.failed === 0 && endpointsOk && profileOk,
        figures: { rate, downS, requests: f.requests, failed: f.failed, endpointsOk, profileOk },
      };
    } finally {
      await mesh.cleanup.run();
    }
  },
};
