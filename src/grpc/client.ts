import * as grpc from '@grpc/grpc-js';
import { credentialInterceptor } from '../controlplane/callers.js';
import { formatHostPort, type HostPort } from '../util/addr.js';
import { serviceConstructor } from './protos.js';

/**
 * A plaintext client for one of the control plane's services (loopback only, until mTLS).
 * With `credential` (the owner's, or a pod's), every call carries it.
 */
export function controlPlaneClient(
  name: Parameters<typeof serviceConstructor>[0],
  addr: HostPort,
  credential?: string,
): grpc.Client {
  const Ctor = serviceConstructor(name);
  return new Ctor(formatHostPort(addr), grpc.credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
    ...(credential === undefined ? {} : { interceptors: [credentialInterceptor(credential)] }),
  });
}

/**
 * A client for the Identity API: gRPC over TLS, the server's certificate checked against
 * `trustAnchorsPem` (a PEM bundle) and required to name `serverName` (the identity
 * service's own identity, from the Lease), whatever host `addr` names.
 */
export function identityClient(
  addr: HostPort | string,
  trustAnchorsPem: string | Buffer,
  serverName: string,
): grpc.Client {
  const Ctor = serviceConstructor('identity');
  const target = typeof addr === 'string' ? addr : formatHostPort(addr);
  const anchors = typeof trustAnchorsPem === 'string' ? Buffer.from(trustAnchorsPem) : trustAnchorsPem;
  return new Ctor(target, grpc.credentials.createSsl(anchors), {
    'grpc.ssl_target_name_override': serverName,
    'grpc.default_authority': serverName,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
  });
}

type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

/** Calls a unary method with a deadline and returns its answer as a promise. */
export function unary<Req, Res>(
  client: grpc.Client,
  method: string,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod<Req, Res>>)[method];
  if (!fn) throw new Error(`no gRPC method ${method}`);
  return new Promise((resolve, reject) => {
    fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
      err ? reject(err) : resolve(res as Res),
    );
  });
}
