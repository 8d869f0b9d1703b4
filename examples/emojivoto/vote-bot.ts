/**
 * emojivoto's vote bot: `node dist/examples/emojivoto/vote-bot.js`.
 * WEB_HOST (default web-svc.emojivoto:80) is the web service; VOTE_BOT_INTERVAL_MS
 * (default 1000) the pause between votes. http_proxy/no_proxy are honoured.
 */
import { envHostPort, envInt } from './lib/env.js';
import { httpProxyFor } from './lib/http-proxy.js';
import { configOrExit, createLogger, runProgram } from './lib/main.js';
import { startVoteBot } from './lib/vote-bot.js';

const NAME = 'vote-bot';
const config = configOrExit(NAME, (env) => {
  const web = envHostPort(env, 'WEB_HOST', 'web-svc.emojivoto:80', 80);
  return {
    web,
    intervalMs: envInt(env, 'VOTE_BOT_INTERVAL_MS', 1000, 1, 3_600_000),
    proxy: httpProxyFor(web.host, web.port, env),
  };
});
const log = createLogger(NAME);

runProgram(NAME, log, async () => {
  const bot = startVoteBot({ log, web: config.web, intervalMs: config.intervalMs, proxy: config.proxy });
  log.info(
    { webHost: config.web.authority, intervalMs: config.intervalMs, proxy: config.proxy?.url ?? null },
    `vote-bot voting at http://${config.web.authority} every ${config.intervalMs} ms${config.proxy ? ` through ${config.proxy.url}` : ''}`,
  );
  return bot;
});
