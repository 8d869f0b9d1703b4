/**
 * emojivoto's voting service: `node dist/examples/emojivoto/voting.js`.
 * GRPC_PORT (default 8080) is the gRPC port, on every address. FAILURE_RATE (0.0-1.0,
 * default 1.0) is how often VoteDoughnut fails; ARTIFICIAL_DELAY (`250ms`, `1s`; default 0)
 * slows every vote down.
 */
import { envDurationMs, envListenPort, envRate } from './lib/env.js';
import { listenAll, shutdownServer } from './lib/grpc-server.js';
import { configOrExit, createLogger, runProgram } from './lib/main.js';
import { createVotingServer } from './lib/voting-service.js';

const NAME = 'voting';
const config = configOrExit(NAME, (env) => ({
  grpcPort: envListenPort(env, 'GRPC_PORT', 8080),
  failureRate: envRate(env, 'FAILURE_RATE', 1),
  artificialDelayMs: envDurationMs(env, 'ARTIFICIAL_DELAY', 0),
}));
const log = createLogger(NAME);

runProgram(NAME, log, async () => {
  const { server } = createVotingServer(log, config);
  const { address, port } = await listenAll(server, config.grpcPort);
  log.info(
    {
      address,
      port,
      service: 'emojivoto.v1.VotingService',
      failureRate: config.failureRate,
      artificialDelayMs: config.artificialDelayMs,
    },
    `voting service listening on ${address}`,
  );
  return { stop: () => shutdownServer(server) };
});
