// One process of the discovery scenario's watchers (bench/discovery.ts): opens N Destination.Get streams
// to the control plane, each on its own channel and TCP connection (as N proxies would), and timestamps
// every endpoint it sees added or removed after the first (whole-set) endpoint message.
//
// Usage: node dist/bench/discovery-watchers.js --addr HOST:PORT --path SVC:PORT --ns NS --watchers N
//          --endpoints M --changes E
// Prints JSON lines on stdout: {"synced":true,"ms":T} once every stream holds M endpoints;
// {"done":true} once every stream has seen E changes; on SIGUSR2, {"result":{...}} and exits.
//
// Clock: process.hrtime (CLOCK_MONOTONIC, shared by every process on the machine), in ms.
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { type DestinationUpdate, serviceConstructor } from '../src/grpc/protos.js';

export interface WatcherProcessResult {
  watchers: number;
  /** Streams that got their whole first set of `endpoints` addresses. */
  synced: number;
  /** Per change key (`+ip:port` added, `-ip:port` removed): [streams that saw it, first ms, last ms]. */
  changes: Record<string, [number, number, number]>;
  /** Streams whose final set did not hold exactly the expected number of endpoints. */
  finalSizeMismatches: number;
  /** `noEndpoints` messages after the first one (the set should never be empty here). */
  noEndpoints: number;
  /** Stream errors or ends, with their messages (first few). */
  streamErrors: number;
  errorSamples: string[];
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

const { values } = parseArgs({
  options: {
    addr: { type: 'string' },
    path: { type: 'string' },
    ns: { type: 'string' },
    watchers: { type: 'string' },
    endpoints: { type: 'string' },
    changes: { type: 'string' },
  },
});
const watchers = Number(values.watchers);
const endpoints = Number(values.endpoints);
const expectedChanges = Number(values.changes);
if (
  !values.addr ||
  !values.path ||
  !values.ns ||
  !(watchers > 0) ||
  !(endpoints > 0) ||
  !(expectedChanges >= 0)
) {
  process.stderr.write(
    'usage: discovery-watchers.js --addr H:P --path SVC:PORT --ns NS --watchers N --endpoints M --changes E\n',
  );
  process.exit(2);
}

const Destination = serviceConstructor('destination');
const changes = new Map<string, [number, number, number]>();
const sets: Array<Set<string>> = [];
const seen: number[] = [];
const clients: grpc.Client[] = [];
const calls: grpc.ClientReadableStream<DestinationUpdate>[] = [];
let synced = 0;
let done = 0;
let noEndpoints = 0;
let streamErrors = 0;
const errorSamples: string[] = [];
const startedAt = nowMs();

function record(key: string, at: number): void {
  const c = changes.get(key);
  if (c) {
    c[0]++;
    c[2] = at;
  } else changes.set(key, [1, at, at]);
}

function streamFailed(what: string): void {
  streamErrors++;
  if (errorSamples.length < 5) errorSamples.push(what);
}

for (let i = 0; i < watchers; i++) {
  // A local subchannel pool: each watcher gets its own connection, like separate proxies.
  const client = new Destination(values.addr, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  clients.push(client);
  const set = new Set<string>();
  sets.push(set);
  seen.push(0);
  let first = true;
  const call = (
    client as unknown as Record<string, (req: object) => grpc.ClientReadableStream<DestinationUpdate>>
  ).get?.call(client, { path: values.path, contextToken: JSON.stringify({ ns: values.ns }) });
  if (!call) throw new Error('no Destination.get method');
  calls.push(call);
  call.on('data', (u: DestinationUpdate) => {
    // The first answer begins with the Service's failure accrual; the set comes after it.
    if (u.update === 'failureAccrual') return;
    const at = nowMs();
    let n = 0;
    if (u.update === 'add') {
      for (const a of u.add?.addrs ?? []) {
        const key = `${a.addr.ip}:${a.addr.port}`;
        set.add(key);
        if (!first) {
          record(`+${key}`, at);
          n++;
        }
      }
    } else if (u.update === 'remove') {
      for (const a of u.remove?.addrs ?? []) {
        const key = `${a.ip}:${a.port}`;
        set.delete(key);
        if (!first) {
          record(`-${key}`, at);
          n++;
        }
      }
    } else if (u.update === 'noEndpoints') {
      set.clear();
      if (!first) noEndpoints++;
    }
    if (first) {
      first = false;
      if (set.size === endpoints && ++synced === watchers) {
        process.stdout.write(`${JSON.stringify({ synced: true, ms: Math.round(at - startedAt) })}\n`);
      }
    }
    if (n === 0) return;
    const before = seen[i] ?? 0;
    seen[i] = before + n;
    if (before < expectedChanges && before + n >= expectedChanges && ++done === watchers) {
      process.stdout.write(`${JSON.stringify({ done: true })}\n`);
    }
  });
  call.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) streamFailed(`watcher ${i}: ${err.code} ${err.details}`);
  });
  call.on('end', () => streamFailed(`watcher ${i}: stream ended`));
}

function report(): void {
  const result: WatcherProcessResult = {
    watchers,
    synced,
    changes: Object.fromEntries(changes),
    finalSizeMismatches: sets.filter((s) => s.size !== endpoints).length,
    noEndpoints,
    streamErrors,
    errorSamples,
  };
  for (const call of calls) {
    call.removeAllListeners('end');
    call.removeAllListeners('error');
    call.on('error', () => {});
    call.cancel();
  }
  for (const client of clients) client.close();
  process.stdout.write(`${JSON.stringify({ result })}\n`, () => process.exit(0));
}

process.once('SIGUSR2', report);
process.once('SIGTERM', () => process.exit(0));
process.once('SIGINT', () => process.exit(0));
