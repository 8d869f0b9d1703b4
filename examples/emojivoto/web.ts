/**
 * emojivoto's web service: `node dist/examples/emojivoto/web.js`.
 * WEB_PORT (default 8080) is the HTTP port, on every address; EMOJISVC_HOST (default
 * emoji-svc.emojivoto:8080) and VOTINGSVC_HOST (default voting-svc.emojivoto:8080) are the
 * gRPC backends; MESSAGE_OF_THE_DAY is shown on the page.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { envHostPort, envListenPort } from './lib/env.js';
import { UnaryClient } from './lib/grpc-client.js';
import { configOrExit, createLogger, runProgram } from './lib/main.js';
import { loadEmojiService, loadVotingService } from './lib/protos.js';
import { createWebHandler } from './lib/web-app.js';

const NAME = 'web';
/** How long open requests get to finish on shutdown before their connections are closed. */
const GRACE_MS = 5_000;

const config = configOrExit(NAME, (env) => ({
  webPort: envListenPort(env, 'WEB_PORT', 8080),
  emojisvc: envHostPort(env, 'EMOJISVC_HOST', 'emoji-svc.emojivoto:8080'),
  votingsvc: envHostPort(env, 'VOTINGSVC_HOST', 'voting-svc.emojivoto:8080'),
  messageOfTheDay: env.MESSAGE_OF_THE_DAY ?? '',
}));
const log = createLogger(NAME);

function listen(server: http.Server, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // No host: every address, IPv6 and IPv4 where the system has both.
    server.listen(port, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

runProgram(NAME, log, async () => {
  const emojiClient = new UnaryClient(config.emojisvc.authority);
  const votingClient = new UnaryClient(config.votingsvc.authority);
  const handler = createWebHandler({
    log,
    emojiClient,
    emojiService: loadEmojiService(),
    votingClient,
    votingService: loadVotingService(),
    messageOfTheDay: config.messageOfTheDay,
  });
  const server = http.createServer(handler);
  const addr = await listen(server, config.webPort);
  const address = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  log.info(
    {
      address,
      port: addr.port,
      emojisvcHost: config.emojisvc.authority,
      votingsvcHost: config.votingsvc.authority,
      // grpc-js tunnels through this (HTTP CONNECT) unless no_grpc_proxy/no_proxy exempts the target.
      grpcProxy: process.env.grpc_proxy || process.env.https_proxy || process.env.http_proxy || null,
    },
    `web listening on ${address}, emoji service at ${config.emojisvc.authority}, voting service at ${config.votingsvc.authority}`,
  );
  return {
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), GRACE_MS);
      await closed;
      clearTimeout(force);
      emojiClient.close();
      votingClient.close();
    },
  };
});
