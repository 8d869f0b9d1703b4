/**
 * The web service: the voting page and the JSON API the page and the vote bot use, backed
 * by the emoji and voting services over gRPC. The calls it makes per request are the
 * original's, so a mesh sees the same traffic: `/api/list` is one ListAll, `/api/vote` a
 * FindByShortcode then a `Vote<Name>`, `/api/leaderboard` a Results then one
 * FindByShortcode per emoji with votes.
 */
import type http from 'node:http';
import type { MethodDefinition } from '@grpc/proto-loader';
import { voteRpcName } from './emojis.js';
import { errorText, type UnaryClient } from './grpc-client.js';
import type { Logger } from './main.js';
import { faviconSvg, indexHtml } from './page.js';
import type { EmojiServiceDef, VoteRequest, VoteResponse, VotingServiceDef } from './protos.js';

export interface WebDeps {
  log: Logger;
  emojiClient: UnaryClient;
  emojiService: EmojiServiceDef;
  votingClient: UnaryClient;
  votingService: VotingServiceDef;
  /** MESSAGE_OF_THE_DAY, shown above the page. */
  messageOfTheDay: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** JSON as Go's encoder writes it: one document and a newline. */
function writeJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const MAX_FORM_BYTES = 16 * 1024;

/** The form fields of a urlencoded POST body (the page votes with GET; this is for curl -d). */
async function formBody(req: http.IncomingMessage): Promise<URLSearchParams> {
  if (
    req.method !== 'POST' ||
    !/^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')
  ) {
    req.resume();
    return new URLSearchParams();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function createWebHandler(deps: WebDeps): http.RequestListener {
  const { log, emojiClient, emojiService, votingClient, votingService } = deps;
  const index = indexHtml(deps.messageOfTheDay);
  const favicon = faviconSvg();

  const list = async () => {
    const { list } = await emojiClient.call(emojiService.ListAll, {});
    return list.map((e) => ({ shortcode: e.shortcode, unicode: e.unicode }));
  };

  const vote = async (choice: string | null) => {
    if (!choice) throw new HttpError(400, `Emoji choice [${choice ?? ''}] is mandatory`);
    const { emoji } = await emojiClient.call(emojiService.FindByShortcode, { shortcode: choice });
    if (!emoji) throw new HttpError(400, `Chosen emoji shortcode [${choice}] doesn't exist`);
    const method = votingService[voteRpcName(emoji.shortcode)];
    if (!method || method === votingService.Results) {
      throw new HttpError(400, `the voting service has no vote for [${emoji.shortcode}]`);
    }
    await votingClient.call(method as MethodDefinition<VoteRequest, VoteResponse>, {});
  };

  const leaderboard = async () => {
    const { results } = await votingClient.call(votingService.Results, {});
    const out: Array<{ shortcode: string; unicode: string; votes: string }> = [];
    for (const r of results) {
      const { emoji } = await emojiClient.call(emojiService.FindByShortcode, { shortcode: r.Shortcode });
      if (!emoji) {
        log.warn({ shortcode: r.Shortcode }, 'a voted shortcode is unknown to the emoji service; left out');
        continue;
      }
      // The original's JSON carries the count as a string.
      out.push({ shortcode: emoji.shortcode, unicode: emoji.unicode, votes: String(r.Votes) });
    }
    return out;
  };

  const serve = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://web');
    switch (url.pathname) {
      case '/api/list':
        req.resume();
        return writeJson(res, 200, await list());
      case '/api/vote': {
        const form = await formBody(req);
        await vote(form.get('choice') ?? url.searchParams.get('choice'));
        // Success is an empty 200, as in the original.
        res.writeHead(200, { 'content-length': 0 });
        res.end();
        return;
      }
      case '/api/leaderboard':
        req.resume();
        return writeJson(res, 200, await leaderboard());
      case '/img/favicon.ico':
      case '/favicon.ico':
        req.resume();
        res.writeHead(200, { 'content-type': 'image/svg+xml', 'content-length': Buffer.byteLength(favicon) });
        res.end(req.method === 'HEAD' ? undefined : favicon);
        return;
      default:
        req.resume();
        if (url.pathname.startsWith('/api/')) throw new HttpError(404, `no API at ${url.pathname}`);
        // Every other path is the single-page app, which routes / and /leaderboard itself.
        res.writeHead(200, {
          'content-type': 'text/html; charset=UTF-8',
          'content-length': Buffer.byteLength(index),
        });
        res.end(req.method === 'HEAD' ? undefined : index);
    }
  };

  return (req, res) => {
    serve(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const error = errorText(err);
      log.warn({ method: req.method, url: req.url, status, error }, 'error serving request');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      writeJson(res, status, { error });
    });
  };
}
