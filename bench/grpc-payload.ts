// The gRPC side of the benchmark: the Echo service definition, the pre-framed request body that h2load
// POSTs, and two checks that a target really answers gRPC with grpc-status 0 (a real grpc-js client
// call, and a raw HTTP/2 POST of exactly the bytes h2load will send).
import { connect as h2connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { echoProto } from './paths.js';

export const ECHO_PATH = '/weftbench.Echo/Echo';
/** Request message text: 64 bytes, so the serialized message is 66 bytes and the frame 71. */
export const ECHO_TEXT = 'x'.repeat(64);

export interface EchoMessage {
  message: string;
}

export function echoService(): grpc.ServiceClientConstructor {
  const def = loadSync(echoProto, { keepCase: true, defaults: true });
  const pkg = grpc.loadPackageDefinition(def).weftbench as grpc.GrpcObject | undefined;
  const ctor = pkg?.Echo;
  if (typeof ctor !== 'function') throw new Error(`service weftbench.Echo not found in ${echoProto}`);
  return ctor as grpc.ServiceClientConstructor;
}

/** One length-prefixed gRPC message: flag byte 0 (uncompressed), 4-byte big-endian length, protobuf. */
export function framedEchoRequest(): Buffer {
  const method = echoService().service.Echo;
  if (!method) throw new Error('method Echo missing from weftbench.Echo');
  const payload = method.requestSerialize({ message: ECHO_TEXT } satisfies EchoMessage);
  const head = Buffer.alloc(5);
  head.writeUInt8(0, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** A real grpc-js unary call; resolves with the echoed text, rejects unless the status is OK (0). */
export function grpcClientCheck(port: number, authority?: string, timeoutMs = 5000): Promise<string> {
  const Ctor = echoService();
  const options = authority ? { 'grpc.default_authority': authority } : {};
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
  return new Promise<string>((resolve, reject) => {
    const deadline = new Date(Date.now() + timeoutMs);
    // ServiceClient methods are untyped (loaded at run time); this is the unary call signature.
    const call = client.Echo as (
      req: EchoMessage,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, reply?: EchoMessage) => void,
    ) => void;
    call.call(client, { message: ECHO_TEXT }, { deadline }, (err, reply) => {
      client.close();
      if (err) reject(new Error(`grpc-js Echo call failed: status ${err.code} ${err.details}`));
      else if (reply?.message !== ECHO_TEXT)
        reject(new Error('grpc-js Echo call returned a different message'));
      else resolve(`grpc-status 0, ${reply.message.length}-char echo`);
    });
  });
}

/** POSTs `body` like h2load will, and checks :status 200 and a grpc-status 0 trailer. */
export function rawFramedCheck(
  port: number,
  body: Buffer,
  authority?: string,
  timeoutMs = 5000,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`raw gRPC POST to 127.0.0.1:${port} timed out`));
    }, timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      session.close();
      if (err) reject(err);
      else resolve();
    };
    session.on('error', (err) => done(err));
    const stream = session.request({
      ':method': 'POST',
      ':path': ECHO_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(authority ? { ':authority': authority } : {}),
    });
    let status = 0;
    let grpcStatus: string | undefined;
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      // A trailers-only response carries grpc-status in the headers.
      if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
    });
    stream.on('trailers', (trailers) => {
      if (trailers['grpc-status'] !== undefined) grpcStatus = String(trailers['grpc-status']);
    });
    stream.resume();
    stream.on('error', (err) => done(err));
    stream.on('end', () => {
      if (status !== 200) done(new Error(`raw gRPC POST got :status ${status}`));
      else if (grpcStatus !== '0') done(new Error(`raw gRPC POST got grpc-status ${grpcStatus ?? '(none)'}`));
      else done();
    });
    stream.end(body);
  });
}
