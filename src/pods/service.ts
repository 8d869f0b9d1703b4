/** The Pods gRPC service of `weft up` (proto/weft/pods.proto), over the PodManager. */
import { isAbsolute } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { dns1123LabelError } from '../catalog/names.js';
import { MAX_REPLICAS } from '../catalog/resources.js';
import { type CallerAuthenticator, ownerOnly } from '../controlplane/callers.js';
import type { PodLogsMessage, PodStatusMessage, RunPodRequest } from '../grpc/protos.js';
import type { Logger } from '../util/log.js';
import type { PodManager } from './manager.js';
import type { Pod, RestartPolicy } from './pod.js';

type Callback<T> = grpc.sendUnaryData<T>;
const POLICIES: readonly string[] = ['Always', 'OnFailure', 'Never'];

function status(p: Pod): PodStatusMessage {
  return {
    namespace: p.spec.namespace,
    name: p.spec.name,
    workload: p.spec.workload,
    ip: p.ip,
    phase: p.phase,
    restarts: p.restarts,
  };
}

const invalid = (details: string): Partial<grpc.StatusObject> => ({
  code: grpc.status.INVALID_ARGUMENT,
  details,
});

/** A refusal to touch a Deployment's pods by hand: the Deployment would put them back. */
const managedBy = (namespace: string, workload: string): Partial<grpc.StatusObject> => ({
  code: grpc.status.FAILED_PRECONDITION,
  details: `${namespace}/${workload} is a Deployment: change it with weft apply, or remove it with weft delete`,
});

/** The Pods service, for the owner only (`callers`): it runs commands as pods. */
export function podsService(
  manager: PodManager,
  callers: CallerAuthenticator,
  log: Logger,
): grpc.UntypedServiceImplementation {
  return ownerOnly(callers, log, {
    run(call: grpc.ServerUnaryCall<RunPodRequest, unknown>, cb: Callback<{ pods: PodStatusMessage[] }>) {
      const r = call.request;
      for (const [what, value] of [
        ['namespace', r.namespace],
        ['workload', r.workload],
        ['service account', r.serviceAccount || r.workload],
      ] as const) {
        const problem = dns1123LabelError(value);
        if (problem) {
          cb(invalid(`${what} "${value}" ${problem}`));
          return;
        }
      }
      const policy = r.restartPolicy || 'Always';
      if (!POLICIES.includes(policy)) {
        cb(invalid(`restart policy "${policy}" is not one of ${POLICIES.join(', ')}`));
        return;
      }
      if (r.port > 65535) {
        cb(invalid(`port ${r.port} is not a port`));
        return;
      }
      if (r.replicas > MAX_REPLICAS) {
        cb(invalid(`${r.replicas} replicas: at most ${MAX_REPLICAS} pods a workload on this platform`));
        return;
      }
      if (r.workingDir !== '' && !isAbsolute(r.workingDir)) {
        cb(invalid(`working directory "${r.workingDir}" is not an absolute path`));
        return;
      }
      if (manager.managed(r.namespace, r.workload)) {
        cb(managedBy(r.namespace, r.workload));
        return;
      }
      manager
        .run({
          namespace: r.namespace,
          workload: r.workload,
          serviceAccount: r.serviceAccount || r.workload,
          labels: Object.keys(r.labels).length > 0 ? r.labels : { app: r.workload },
          command: r.command,
          env: r.env,
          restartPolicy: policy as RestartPolicy,
          replicas: r.replicas || 1,
          ...(r.port ? { port: r.port } : {}),
          ...(r.workingDir ? { workingDir: r.workingDir } : {}),
        })
        .then(
          (pods) => cb(null, { pods: pods.map(status) }),
          (err: Error) => {
            log.warn(
              { namespace: r.namespace, workload: r.workload, err: err.message },
              'could not run the pod',
            );
            cb({ code: grpc.status.FAILED_PRECONDITION, details: err.message });
          },
        );
    },
    list(
      call: grpc.ServerUnaryCall<{ namespace: string }, unknown>,
      cb: Callback<{ pods: PodStatusMessage[] }>,
    ) {
      cb(null, { pods: manager.list(call.request.namespace).map(status) });
    },
    logs(
      call: grpc.ServerUnaryCall<{ namespace: string; workload: string }, unknown>,
      cb: Callback<{ pods: PodLogsMessage[] }>,
    ) {
      const { namespace, workload } = call.request;
      const pods = manager.byWorkload(namespace, workload);
      if (pods.length === 0) {
        cb({ code: grpc.status.NOT_FOUND, details: `no pod of ${namespace}/${workload} runs here` });
        return;
      }
      cb(null, {
        pods: pods.map((p) => ({ name: p.spec.name, app: p.logs.app.lines, proxy: p.logs.proxy.lines })),
      });
    },
    delete(
      call: grpc.ServerUnaryCall<{ namespace: string; workload: string }, unknown>,
      cb: Callback<{ pods: string[] }>,
    ) {
      const { namespace, workload } = call.request;
      if (manager.managed(namespace, workload)) {
        cb(managedBy(namespace, workload));
        return;
      }
      manager.delete(namespace, workload).then(
        (pods) => cb(null, { pods }),
        (err: Error) => cb({ code: grpc.status.INTERNAL, details: err.message }),
      );
    },
  });
}
