/** WebSocket test peers (the ws package): an echo app and a client's message inbox. */
import { once } from 'node:events';
import http from 'node:http';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { deferred, listen, withTimeout } from './net.js';

export interface WsApp {
  port: number;
  /** Upgrade requests seen: url and selected headers (weft-client-id as clientId). */
  upgrades: Array<{ url: string; host: string; custom: string; clientId: string }>;
  close(): Promise<void>;
}

/**
 * A WebSocket echo app on an HTTP server (which also answers plain GETs). It greets each
 * client with `welcome`, echoes messages, and closes with 4001 "bye" when told `close-me`.
 */
export async function startWsApp(): Promise<WsApp> {
  const server = http.createServer((_req, res) => res.end('plain-http'));
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has('v1.weft') ? 'v1.weft' : false),
    // The app refuses upgrades to /forbidden with 403 and a header of its own.
    verifyClient: (info, cb) => {
      if (info.req.url === '/forbidden') cb(false, 403, 'Forbidden', { 'x-why': 'no-entry' });
      else cb(true);
    },
  });
  const upgrades: WsApp['upgrades'] = [];
  wss.on('connection', (ws, req) => {
    upgrades.push({
      url: req.url ?? '',
      host: req.headers.host ?? '',
      custom: String(req.headers['x-custom'] ?? ''),
      clientId: String(req.headers['weft-client-id'] ?? ''),
    });
    ws.send('welcome');
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'close-me') {
        ws.close(4001, 'bye');
        return;
      }
      ws.send(data, { binary: isBinary });
    });
  });
  const port = await listen(server);
  return {
    port,
    upgrades,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Collects messages in order and lets a test await the next one. */
export class Inbox {
  private queue: Array<{ data: Buffer; binary: boolean }> = [];
  private waiters: Array<() => void> = [];
  constructor(ws: WebSocket) {
    ws.on('message', (data: WebSocket.RawData, binary: boolean) => {
      this.queue.push({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), binary });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async next(what: string): Promise<{ data: Buffer; binary: boolean }> {
    const p = (async () => {
      while (this.queue.length === 0) await new Promise<void>((r) => this.waiters.push(r));
      return this.queue.shift() as { data: Buffer; binary: boolean };
    })();
    return withTimeout(p, 10_000, what);
  }
}

export async function opened(ws: WebSocket): Promise<void> {
  const err = deferred<never>();
  ws.once('error', (e) => err.reject(e));
  ws.once('unexpected-response', (_req, res) => err.reject(new Error(`upgrade answered ${res.statusCode}`)));
  await withTimeout(Promise.race([once(ws, 'open'), err.promise]), 10_000, 'WebSocket open');
}
