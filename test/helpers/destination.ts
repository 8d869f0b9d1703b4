/** Destination API streams as a proxy opens them, over real gRPC, for tests to read. */
import type * as grpc from '@grpc/grpc-js';
import type { GetDestination } from '../../src/grpc/protos.js';

/** One server stream: what it has sent so far, and how it ended. */
export interface Watch<T> {
  readonly messages: T[];
  error: grpc.ServiceError | undefined;
  cancel(): void;
}

/** Opens `Get` or `GetProfile` for `path`, as a proxy in namespace `ns` asks it. */
export function openWatch<T>(
  client: grpc.Client,
  method: 'get' | 'getProfile',
  path: string,
  ns: string,
): Watch<T> {
  const fn = (client as unknown as Record<string, (req: GetDestination) => grpc.ClientReadableStream<T>>)[
    method
  ];
  const call = fn?.call(client, {
    path,
    contextToken: JSON.stringify({ ns }),
  }) as grpc.ClientReadableStream<T>;
  const w: Watch<T> = { messages: [], error: undefined, cancel: () => call.cancel() };
  call.on('data', (m: T) => w.messages.push(m));
  call.on('error', (err: grpc.ServiceError) => {
    w.error = err;
  });
  return w;
}
