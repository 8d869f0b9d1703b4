/**
 * emojivoto's emoji service: `node dist/examples/emojivoto/emoji.js`.
 * GRPC_PORT (default 8080) is the gRPC port, on every address.
 */

import { createEmojiServer } from './lib/emoji-service.js';
import { envListenPort } from './lib/env.js';
import { listenAll, shutdownServer } from './lib/grpc-server.js';
import { configOrExit, createLogger, runProgram } from './lib/main.js';

const NAME = 'emoji';
const config = configOrExit(NAME, (env) => ({ grpcPort: envListenPort(env, 'GRPC_PORT', 8080) }));
const log = createLogger(NAME);

runProgram(NAME, log, async () => {
  const server = createEmojiServer(log);
  const { address, port } = await listenAll(server, config.grpcPort);
  log.info({ address, port, service: 'emojivoto.v1.EmojiService' }, `emoji service listening on ${address}`);
  return { stop: () => shutdownServer(server) };
});
