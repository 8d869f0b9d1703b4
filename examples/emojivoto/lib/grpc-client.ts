/** A small typed unary client over grpc-js, for the web service's two backends. */
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';

/** Per-call deadline: a stuck backend fails the HTTP request instead of hanging it. */
const DEADLINE_MS = 10_000;

/**
 * A channel to `target` (`host:port`, resolved by DNS). grpc-js keeps its default of
 * honouring `grpc_proxy`/`https_proxy`/`http_proxy` and `no_grpc_proxy`/`no_proxy`
 * (HTTP CONNECT through the proxy), which a mesh relies on where it cannot intercept.
 */
export class UnaryClient {
  private readonly client: grpc.Client;

  constructor(readonly target: string) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure());
  }

  call<Req, Res>(method: MethodDefinition<Req, Res>, request: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + DEADLINE_MS },
        (err, res) => (err || res === undefined ? reject(err ?? new Error('empty response')) : resolve(res)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}

/** Status names as Go's grpc prints them, indexed by code. */
const GO_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/**
 * An error as the original web service reports it in its JSON answers:
 * `rpc error: code = Unknown desc = ERROR` for a gRPC status, the message otherwise.
 */
export function errorText(err: unknown): string {
  const e = err as Partial<grpc.ServiceError> | undefined;
  if (e && typeof e.code === 'number') {
    const name = GO_CODE_NAMES[e.code] ?? `Code(${e.code})`;
    return `rpc error: code = ${name} desc = ${e.details ?? ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
