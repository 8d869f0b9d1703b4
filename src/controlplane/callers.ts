/**
 * Who may call the control plane's platform APIs (the local Registry, Resources and Pods
 * services), written against no platform. A caller proves who it is with a bearer
 * credential in the `authorization` metadata; the platform's `CallerAuthenticator` says
 * whom it names, as a Kubernetes TokenReview does for a ServiceAccount token. The owner
 * (the user who runs the platform, Kubernetes' cluster-admin) may call everything; a
 * workload instance may only register and deregister itself.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../util/log.js';

export type Caller =
  | { readonly kind: 'owner' }
  | {
      readonly kind: 'workload';
      readonly namespace: string;
      readonly pod: string;
      readonly serviceAccount: string;
    };

/** A credential that proves nothing: absent, malformed, unknown or revoked. */
export class CallerError extends Error {}

/** A platform's check of a bearer credential. */
export interface CallerAuthenticator {
  /** Whom `credential` names; throws CallerError when it names no one. */
  authenticate(credential: string): Caller;
}

const METADATA_KEY = 'authorization';
const SCHEME = 'Bearer ';

/** Call metadata carrying `credential`, as a client sends it. */
export function credentialMetadata(credential: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(METADATA_KEY, SCHEME + credential);
  return md;
}

/** A grpc-js client interceptor that sends `credential` with every call. */
export function credentialInterceptor(credential: string): grpc.Interceptor {
  const value = SCHEME + credential;
  return (options, next) =>
    new grpc.InterceptingCall(next(options), {
      start(metadata, listener, nextStart) {
        metadata.set(METADATA_KEY, value);
        nextStart(metadata, listener);
      },
    });
}

export function describeCaller(c: Caller): string {
  return c.kind === 'owner'
    ? 'the owner'
    : `pod ${c.namespace}/${c.pod} (service account ${c.serviceAccount})`;
}

type Call = grpc.ServerUnaryCall<unknown, unknown>;
// `never`: a refusal sends no value, so any method's callback will do.
type Callback = grpc.sendUnaryData<never>;

/** Answers a refused call: UNAUTHENTICATED or PERMISSION_DENIED, logged without the credential. */
export function refuseCall(
  call: Call,
  cb: Callback,
  log: Logger,
  code: grpc.status.UNAUTHENTICATED | grpc.status.PERMISSION_DENIED,
  details: string,
): void {
  log.warn(
    { peer: call.getPeer(), method: call.getPath(), code: grpc.status[code], details },
    'call refused',
  );
  cb({ code, details });
}

/**
 * The call's caller, or undefined once the call has been refused as UNAUTHENTICATED
 * (no credential, or one that names no one).
 */
export function authenticateCall(
  call: Call,
  cb: Callback,
  callers: CallerAuthenticator,
  log: Logger,
): Caller | undefined {
  const values = call.metadata.get(METADATA_KEY);
  const header = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
  if (header === undefined || !header.startsWith(SCHEME)) {
    refuseCall(
      call,
      cb,
      log,
      grpc.status.UNAUTHENTICATED,
      `${call.getPath()} needs a credential ("authorization: Bearer <token>" metadata): ${values.length === 0 ? 'none was sent' : 'it is not one bearer token'}`,
    );
    return undefined;
  }
  try {
    return callers.authenticate(header.slice(SCHEME.length).trim());
  } catch (err) {
    if (!(err instanceof CallerError)) throw err;
    refuseCall(call, cb, log, grpc.status.UNAUTHENTICATED, `${call.getPath()}: ${err.message}`);
    return undefined;
  }
}

/** `impl` with every (unary) method open to the owner only. */
export function ownerOnly(
  callers: CallerAuthenticator,
  log: Logger,
  impl: grpc.UntypedServiceImplementation,
): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(impl)) {
    // Every method of these services is unary (see proto/weft/resources.proto, pods.proto).
    const unary = handler as (call: Call, cb: Callback) => void;
    guarded[name] = (call: Call, cb: Callback) => {
      const caller = authenticateCall(call, cb, callers, log);
      if (!caller) return;
      if (caller.kind !== 'owner') {
        refuseCall(
          call,
          cb,
          log,
          grpc.status.PERMISSION_DENIED,
          `${call.getPath()} is for the owner only (the credential in weft up's state directory), and this credential is ${describeCaller(caller)}'s`,
        );
        return;
      }
      unary(call, cb);
    };
  }
  return guarded;
}
