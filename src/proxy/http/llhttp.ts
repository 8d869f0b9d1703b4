import { createRequire } from 'node:module';

/**
 * Node's own llhttp binding, the parser behind `node:http`, taken from `_http_common`.
 * The proxy's upstream HTTP/1 client drives it directly: going through `http.request`
 * and `http.Agent` gave 14.3k req/s where this gives 32-34k (bench/README.md), and a parser of our own
 * would give up llhttp's hardening against malformed and smuggled messages.
 */
export interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  execute(data: Buffer): number | Error;
  finish(): Error | undefined;
  close(): void;
  /** Callbacks live at the numeric slots named by LlhttpParserClass.kOn*. */
  [slot: number]: unknown;
}

export interface LlhttpParserClass {
  new (): LlhttpParser;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
}

function load(): LlhttpParserClass {
  const require = createRequire(import.meta.url);
  const parser = (require('node:_http_common') as { HTTPParser?: LlhttpParserClass }).HTTPParser;
  if (typeof parser !== 'function' || typeof parser.kOnHeadersComplete !== 'number') {
    throw new Error(
      `this Node.js (${process.version}) has no usable _http_common.HTTPParser; Weft needs Node.js 20 or newer`,
    );
  }
  return parser;
}

export const HTTPParser = load();
