// Request smuggling against the proxy's HTTP/1 side: each classic desync (CL.TE, TE.CL,
// TE.TE, two Content-Lengths, obs-fold, NUL and bare CR in headers, bad chunk sizes, a
// Connection header naming a framing field) hides a second request carrying a forged
// weft-client-id. A logging app behind the proxy proves whether anything was smuggled,
// and a victim request after each attack must get its own response.
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import { proxiedApp, rawAttempt, victimGet } from './http1-setup.js';

const SMUGGLED =
  'GET /smuggled HTTP/1.1\r\nHost: web\r\nweft-client-id: forged.default.serviceaccount\r\n\r\n';
const chunk = (s: string): string => `${s.length.toString(16)}\r\n${s}\r\n`;

/** Each attack: its name and the bytes sent on one connection. */
export const ATTACKS: ReadonlyArray<readonly [string, string]> = [
  [
    'CL.TE',
    `POST /a HTTP/1.1\r\nHost: web\r\nContent-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'TE.CL',
    `POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${chunk(SMUGGLED)}0\r\n\r\n`,
  ],
  [
    'TE.TE (obfuscated second Transfer-Encoding)',
    `POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTransfer-encoding: identity\r\nContent-Length: 4\r\n\r\n${chunk(SMUGGLED)}0\r\n\r\n`,
  ],
  [
    'Transfer-Encoding with a space before the colon',
    `POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding : chunked\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Transfer-Encoding: xchunked',
    `POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: xchunked\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  ],
  [
    'duplicate Content-Length',
    `POST /a HTTP/1.1\r\nHost: web\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Content-Length with a sign',
    `POST /a HTTP/1.1\r\nHost: web\r\nContent-Length: +${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  ],
  [
    'obs-fold hiding a Content-Length',
    `POST /a HTTP/1.1\r\nHost: web\r\nX-Fold: a\r\n Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  ],
  ['NUL in a header value', `GET /a HTTP/1.1\r\nHost: web\r\nX-Nul: a\0b\r\n\r\n${SMUGGLED}`],
  ['NUL in a header name', `GET /a HTTP/1.1\r\nHost: web\r\nX-N\0ul: a\r\n\r\n${SMUGGLED}`],
  [
    'bare CR in a header value',
    `GET /a HTTP/1.1\r\nHost: web\r\nX-Cr: a\rContent-Length: 5\r\n\r\n${SMUGGLED}`,
  ],
  [
    'bare LF ending a header line',
    `GET /a HTTP/1.1\r\nHost: web\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  ],
  [
    'chunk size not hex',
    `POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'negative chunk size',
    `POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabcde\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'chunk size overflowing 64 bits',
    `POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nabcde\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'chunk size with 0x',
    `POST /a HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nabcde\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Connection: content-length',
    `POST /a HTTP/1.1\r\nHost: web\r\nConnection: content-length\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Connection: transfer-encoding',
    `POST /a HTTP/1.1\r\nHost: web\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED)}0\r\n\r\n`,
  ],
  ['two Host headers', 'GET /a HTTP/1.1\r\nHost: web\r\nHost: admin\r\n\r\n'],
  [
    'HTTP/1.0 with Transfer-Encoding',
    `POST /a HTTP/1.0\r\nHost: web\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(SMUGGLED)}0\r\n\r\n`,
  ],
  [
    'forged weft-client-id in plain sight',
    'GET /a HTTP/1.1\r\nHost: web\r\nweft-client-id: forged.default.serviceaccount\r\nConnection: close\r\n\r\n',
  ],
];

export const http1Smuggling: Scenario = {
  name: 'http1-smuggling',
  group: 'http1',
  goal: 'nothing smuggled: the app never parses a hidden request or a forged weft-client-id, every victim gets its own response',
  inShortForm: true,
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const p = await proxiedApp();
    try {
      const before = p.sample();
      const answers: string[] = [];
      const wrongVictims: string[] = [];
      for (const [name, bytes] of ATTACKS) {
        const answer = await rawAttempt(p.port, bytes);
        answers.push(`${name}: ${answer}`);
        ctx.log(`${name}: ${answer}`);
        const victim = await victimGet(p.port, `/victim-${answers.length}`);
        if (victim !== `/victim-${answers.length}`) wrongVictims.push(`${name}: victim got ${victim}`);
      }
      const after = p.sample();
      const smuggled = p.app.seen.filter((e) => e.url === '/smuggled').length;
      const forged = p.app.seen.filter((e) =>
        e.rawHeaders.some((h) => h.toLowerCase() === 'weft-client-id'),
      ).length;
      const refused = answers.filter((a) => / 4\d\d /.test(a) || /closed/.test(a)).length;
      const pass = smuggled === 0 && forged === 0 && wrongVictims.length === 0;
      return {
        did: `${ATTACKS.length} smuggling attacks on the inbound listener, each followed by a victim request on a new connection`,
        outcome:
          `${refused}/${ATTACKS.length} refused (4xx or closed); app parsed ${smuggled} smuggled requests, ` +
          `${forged} with a weft-client-id; ${wrongVictims.length} victims got another response` +
          (wrongVictims.length > 0 ? ` (${wrongVictims.join('; ')})` : ''),
        before,
        after,
        pass,
        figures: {
          attacks: ATTACKS.length,
          refused,
          smuggled,
          forged,
          wrongVictims: wrongVictims.length,
          answers: answers.join(' | '),
        },
      };
    } finally {
      await p.close();
    }
  },
};
