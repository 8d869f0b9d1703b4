/**
 * A real gRPC service (grpc-js + proto-loader) with unary, server-streaming,
 * client-streaming and bidi methods, and a typed client for it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { withTimeout } from './net.js';

const PROTO = `
syntax = "proto3";
package weft.test;
service Echo {
  rpc Unary (Msg) returns (Msg);
  rpc ServerStream (Msg) returns (stream Msg);
  rpc ClientStream (stream Msg) returns (Msg);
  rpc Bidi (stream Msg) returns (stream Msg);
}
message Msg {
  string text = 1;
  int32 seq = 2;
  bytes payload = 3;
}
`;

export interface Msg {
  text: string;
  seq: number;
  payload: Buffer;
}

type Def = protoLoader.MethodDefinition<Msg, Msg>;
interface EchoDef {
  Unary: Def;
  ServerStream: Def;
  ClientStream: Def;
  Bidi: Def;
}

let cached: EchoDef | undefined;
export function echoService(): EchoDef {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'weft-grpc-'));
  const file = join(dir, 'echo.proto');
  writeFileSync(file, PROTO);
  const pkg = protoLoader.loadSync(file, { keepCase: true, defaults: true, longs: Number });
  cached = pkg['weft.test.Echo'] as unknown as EchoDef;
  return cached;
}

export function msg(text: string, seq = 0, payload: Buffer = Buffer.alloc(0)): Msg {
  return { text, seq, payload };
}

export interface GrpcApp {
  port: number;
  server: grpc.Server;
  /** Request metadata `x-req-md` of every call, in arrival order. */
  seenMetadata: string[];
  /** Bidi calls the server saw cancelled by the client. */
  cancelled: () => number;
  close(): Promise<void>;
}

/**
 * Unary: echoes `echo:<text>`; text `fail:<why>` answers NOT_FOUND with details `<why>`.
 * Every call sends initial metadata `x-initial-md: hello` and trailing metadata
 * `x-trailer-md: <method>-done`.
 */
export async function startGrpcApp(): Promise<GrpcApp> {
  const def = echoService();
  const server = new grpc.Server();
  const seenMetadata: string[] = [];
  let cancelled = 0;
  const initial = (): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set('x-initial-md', 'hello');
    return m;
  };
  const trailer = (what: string): grpc.Metadata => {
    const m = new grpc.Metadata();
    m.set('x-trailer-md', `${what}-done`);
    return m;
  };
  const record = (md: grpc.Metadata): void => {
    seenMetadata.push(String(md.get('x-req-md')[0] ?? ''));
  };
  const impl: grpc.UntypedServiceImplementation = {
    Unary: ((call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      record(call.metadata);
      call.sendMetadata(initial());
      const m = call.request;
      if (m.text.startsWith('fail:')) {
        cb({ code: grpc.status.NOT_FOUND, details: m.text.slice(5), metadata: trailer('unary') });
        return;
      }
      cb(null, msg(`echo:${m.text}`, m.seq, m.payload), trailer('unary'));
    }) as grpc.handleUnaryCall<Msg, Msg>,
    ServerStream: ((call: grpc.ServerWritableStream<Msg, Msg>) => {
      record(call.metadata);
      call.sendMetadata(initial());
      for (let i = 0; i < call.request.seq; i++) call.write(msg(`${call.request.text}#${i}`, i));
      call.end(trailer('server-stream'));
    }) as grpc.handleServerStreamingCall<Msg, Msg>,
    ClientStream: ((call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      record(call.metadata);
      let count = 0;
      let bytes = 0;
      call.on('data', (m: Msg) => {
        count++;
        bytes += m.payload.length;
      });
      call.on('end', () =>
        cb(null, msg(`count:${count}`, count, Buffer.from(String(bytes))), trailer('client-stream')),
      );
    }) as grpc.handleClientStreamingCall<Msg, Msg>,
    Bidi: ((call: grpc.ServerDuplexStream<Msg, Msg>) => {
      record(call.metadata);
      call.sendMetadata(initial());
      call.on('cancelled', () => {
        cancelled++;
      });
      call.on('error', () => {});
      call.on('data', (m: Msg) => call.write(msg(`bidi:${m.text}`, m.seq, m.payload)));
      call.on('end', () => call.end(trailer('bidi')));
    }) as grpc.handleBidiStreamingCall<Msg, Msg>,
  };
  server.addService(def as unknown as grpc.ServiceDefinition, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    server,
    seenMetadata,
    cancelled: () => cancelled,
    close: async () => {
      server.forceShutdown();
    },
  };
}

export interface UnaryResult {
  response?: Msg;
  error?: grpc.ServiceError;
  initial?: grpc.Metadata;
  trailing?: grpc.Metadata;
}

/** A client of the Echo service. With `viaProxy`, the channel tunnels through that HTTP proxy (CONNECT). */
export class EchoClient {
  readonly client: grpc.Client;
  private readonly def = echoService();

  constructor(target: string, viaProxy?: string, extra: grpc.ChannelOptions = {}) {
    const saved = { grpc_proxy: process.env.grpc_proxy, no_grpc_proxy: process.env.no_grpc_proxy };
    const savedNoProxy = { no_proxy: process.env.no_proxy, NO_PROXY: process.env.NO_PROXY };
    // grpc-js reads these variables when the channel is created, so set them just for this constructor.
    if (viaProxy) process.env.grpc_proxy = viaProxy;
    else delete process.env.grpc_proxy;
    delete process.env.no_grpc_proxy;
    delete process.env.no_proxy;
    delete process.env.NO_PROXY;
    try {
      this.client = new grpc.Client(target, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.enable_http_proxy': viaProxy ? 1 : 0,
        ...extra,
      });
    } finally {
      for (const [k, v] of Object.entries({ ...saved, ...savedNoProxy })) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  private md(reqMd?: string): grpc.Metadata {
    const m = new grpc.Metadata();
    if (reqMd) m.set('x-req-md', reqMd);
    return m;
  }

  private deadline(ms: number): grpc.CallOptions {
    return { deadline: Date.now() + ms };
  }

  /**
   * A call with a single response, gathered into a UnaryResult: `start` makes the call with
   * the callback it is given (which records the error or response), `use` gets the call
   * (to listen or write), and the result resolves once the status (trailing metadata) is in too.
   */
  private singleResponse<C extends grpc.ClientUnaryCall | grpc.ClientWritableStream<Msg>>(
    start: (callback: grpc.requestCallback<Msg>) => C,
    use: (call: C, out: UnaryResult) => void,
  ): Promise<UnaryResult> {
    const out: UnaryResult = {};
    return new Promise<UnaryResult>((resolve) => {
      const call = start((err, res) => {
        if (err) out.error = err;
        if (res) out.response = res;
      });
      call.on('status', (s: grpc.StatusObject) => {
        out.trailing = s.metadata;
        // The callback runs before 'status'; resolve on the next tick so both are in.
        setImmediate(() => resolve(out));
      });
      use(call, out);
    });
  }

  unary(m: Msg, reqMd?: string, timeoutMs = 10_000): Promise<UnaryResult> {
    const d = this.def.Unary;
    const p = this.singleResponse(
      (callback) =>
        this.client.makeUnaryRequest<Msg, Msg>(
          d.path,
          d.requestSerialize,
          d.responseDeserialize,
          m,
          this.md(reqMd),
          this.deadline(timeoutMs),
          callback,
        ),
      (call, out) => {
        call.on('metadata', (md: grpc.Metadata) => {
          out.initial = md;
        });
      },
    );
    return withTimeout(p, timeoutMs + 5_000, `gRPC Unary ${m.text}`);
  }

  serverStream(m: Msg, timeoutMs = 10_000): Promise<{ messages: Msg[]; status: grpc.StatusObject }> {
    const d = this.def.ServerStream;
    const p = new Promise<{ messages: Msg[]; status: grpc.StatusObject }>((resolve) => {
      const messages: Msg[] = [];
      const call = this.client.makeServerStreamRequest<Msg, Msg>(
        d.path,
        d.requestSerialize,
        d.responseDeserialize,
        m,
        this.md(),
        this.deadline(timeoutMs),
      );
      call.on('data', (r: Msg) => messages.push(r));
      call.on('error', () => {});
      call.on('status', (status: grpc.StatusObject) => resolve({ messages, status }));
    });
    return withTimeout(p, timeoutMs + 5_000, 'gRPC ServerStream');
  }

  clientStream(ms: Msg[], timeoutMs = 10_000): Promise<UnaryResult> {
    const d = this.def.ClientStream;
    const p = this.singleResponse(
      (callback) =>
        this.client.makeClientStreamRequest<Msg, Msg>(
          d.path,
          d.requestSerialize,
          d.responseDeserialize,
          this.md(),
          this.deadline(timeoutMs),
          callback,
        ),
      (call) => {
        for (const m of ms) call.write(m);
        call.end();
      },
    );
    return withTimeout(p, timeoutMs + 5_000, 'gRPC ClientStream');
  }

  /** Opens a bidi call; the caller writes and reads. */
  bidi(timeoutMs = 15_000): grpc.ClientDuplexStream<Msg, Msg> {
    const d = this.def.Bidi;
    return this.client.makeBidiStreamRequest<Msg, Msg>(
      d.path,
      d.requestSerialize,
      d.responseDeserialize,
      this.md('bidi'),
      this.deadline(timeoutMs),
    );
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Ping-pong over a bidi call: writes message i only after the echo of message i-1
 * arrived, which fails unless every hop streams both ways without buffering.
 */
export async function bidiPingPong(
  c: EchoClient,
  rounds: number,
  payloadBytes = 16,
): Promise<{ echoed: Msg[]; status: grpc.StatusObject; trailer: string | undefined }> {
  const call = c.bidi();
  const echoed: Msg[] = [];
  const p = new Promise<{ echoed: Msg[]; status: grpc.StatusObject; trailer: string | undefined }>(
    (resolve, reject) => {
      call.on('data', (m: Msg) => {
        echoed.push(m);
        if (echoed.length < rounds)
          call.write(msg(`ping${echoed.length}`, echoed.length, Buffer.alloc(payloadBytes, 7)));
        else call.end();
      });
      call.on('error', (e: Error) => {
        if ((e as grpc.ServiceError).code === undefined) reject(e);
      });
      call.on('status', (status: grpc.StatusObject) =>
        resolve({ echoed, status, trailer: status.metadata.get('x-trailer-md')[0]?.toString() }),
      );
      call.write(msg('ping0', 0, Buffer.alloc(payloadBytes, 7)));
    },
  );
  return withTimeout(p, 20_000, `gRPC bidi ping-pong of ${rounds} rounds`);
}
