// Garbage on every port of a real `weft up`: the gRPC API (plaintext HTTP/2), the Identity
// API (TLS) and the admin port. Each connection is left open for the server to close; the
// control plane must stay up, answer, and give back the descriptors.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { parseHostPort } from '../../test/helpers/proxy.js';
import type { Scenario, ScenarioResult } from '../scenario.js';
import { answers, withPlane } from './control-plane-shared.js';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** What each connection sends. */
const PAYLOADS: ReadonlyArray<[name: string, bytes: () => Buffer]> = [
  ['random 4 KiB', () => randomBytes(4096)],
  ['HTTP/1.1 request', () => Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n')],
  // A frame header claiming 16 MiB of HEADERS on stream 1, then nothing.
  [
    'preface + 16 MiB frame header',
    () => Buffer.concat([H2_PREFACE, Buffer.from([0xff, 0xff, 0xff, 1, 4, 0, 0, 0, 1])]),
  ],
  ['preface + garbage frames', () => Buffer.concat([H2_PREFACE, randomBytes(512)])],
  [
    'TLS ClientHello prefix',
    () => Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
  ],
  ['NUL bytes', () => Buffer.alloc(1024)],
];

/** Sends `bytes`, then waits until the server closes (true) or `waitMs` passes (false); then destroys. */
function hit(port: number, bytes: Buffer, waitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(closedByServer);
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.on('connect', () => s.write(bytes));
    s.on('data', () => {});
    s.on('error', () => finish(true));
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
  });
}

export const garbageOnEveryPort: Scenario = {
  name: 'control-plane-garbage',
  group: 'control-plane',
  goal: 'garbage on the gRPC, Identity and admin ports: weft up stays up and answers, descriptors back to baseline',
  inShortForm: true,
  run: (ctx) =>
    withPlane(ctx, async (p): Promise<ScenarioResult> => {
      const ports: Array<[string, number]> = [
        ['grpc', p.cp.grpc.port],
        ['identity', parseHostPort(p.cp.identityAddr, 'identity').port],
        ['admin', p.cp.admin.port],
      ];
      const rounds = ctx.short ? 2 : 40;
      const waitMs = ctx.short ? 1000 : 3000;
      const before = p.sample();
      let sent = 0;
      let closedByServer = 0;
      const perPort: Record<string, number> = {};
      for (let round = 0; round < rounds; round++) {
        const results = await Promise.all(
          ports.flatMap(([name, port]) =>
            PAYLOADS.map(async ([, bytes]) => {
              const closed = await hit(port, bytes(), waitMs);
              if (closed) perPort[name] = (perPort[name] ?? 0) + 1;
              return closed;
            }),
          ),
        );
        sent += results.length;
        closedByServer += results.filter(Boolean).length;
      }
      const up = await answers(p);
      // The server closes its side of every connection the client gave up on.
      let after = p.sample();
      for (let i = 0; i < 50 && after.fds > before.fds + 5; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = p.sample();
      }
      const leaked = Math.max(0, after.fds - before.fds);
      return {
        did: `${sent} connections (${PAYLOADS.length} kinds of garbage x 3 ports x ${rounds}), each left open for ${waitMs / 1000} s`,
        outcome: `${closedByServer} closed by weft up within ${waitMs / 1000} s (${ports.map(([n]) => `${n} ${perPort[n] ?? 0}`).join(', ')}); ${leaked} descriptors more than before; control plane ${up ? 'answers' : 'DOWN'}`,
        before,
        after,
        pass: up && leaked <= 5,
        figures: { connections: sent, closedByServer, fdsLeaked: leaked },
      };
    }),
};
