// Header floods against the proxy's HTTP/1 side: a 1 MB header block and 10,000 header
// fields, from many connections at once. Each must be refused (431) before anything is
// forwarded, and the proxy's memory must stay bounded.
import type { Scenario, ScenarioContext, ScenarioResult } from '../scenario.js';
import { MiB, proxiedApp, rawAttempt, victimGet } from './http1-setup.js';

/** The floods: name, and the request bytes. */
const FLOODS: ReadonlyArray<readonly [string, () => string]> = [
  ['1 MB header value', () => `GET /flood HTTP/1.1\r\nHost: web\r\nX-Big: ${'a'.repeat(MiB)}\r\n\r\n`],
  [
    '1 MB of 1 KB header fields',
    () => `GET /flood HTTP/1.1\r\nHost: web\r\n${`X-Kb: ${'b'.repeat(1024)}\r\n`.repeat(1024)}\r\n`,
  ],
  [
    '10,000 header fields (under the byte limit)',
    () => `GET /flood HTTP/1.1\r\nHost: web\r\n${'a: b\r\n'.repeat(10_000)}\r\n`,
  ],
  [
    '10,000 header fields, Content-Length last',
    () => `POST /flood HTTP/1.1\r\nHost: web\r\n${'x: y\r\n'.repeat(10_000)}Content-Length: 4\r\n\r\nbody`,
  ],
];

/** RSS growth allowed over the whole run: the refusals must not keep what they read. */
const MAX_GROWTH_BYTES = 64 * MiB;

export const http1HeaderFloods: Scenario = {
  name: 'http1-header-floods',
  group: 'http1',
  goal: 'each flood refused with 431 (nothing forwarded), proxy RSS growth under 64 MB, others served',
  inShortForm: true,
  async run(ctx: ScenarioContext): Promise<ScenarioResult> {
    const concurrency = ctx.short ? 20 : 200;
    const rounds = ctx.short ? 1 : 5;
    const p = await proxiedApp();
    try {
      const before = p.sample();
      let peakRss = before.rssBytes;
      const statuses = new Map<string, number>();
      for (const [name, make] of FLOODS) {
        const bytes = make();
        for (let r = 0; r < rounds; r++) {
          const answers = await Promise.all(
            Array.from({ length: concurrency }, () => rawAttempt(p.port, bytes, 10_000)),
          );
          for (const a of answers) {
            const key = `${name}: ${a}`;
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
          }
          peakRss = Math.max(peakRss, p.sample().rssBytes);
        }
        ctx.log(`${name}: done`);
      }
      const served = await victimGet(p.port, '/after-floods');
      const after = p.sample();
      const total = FLOODS.length * concurrency * rounds;
      const refused = [...statuses].filter(([k]) => / 431 /.test(k)).reduce((n, [, v]) => n + v, 0);
      const forwarded = p.app.seen.filter((e) => e.url === '/flood').length;
      const growth = peakRss - before.rssBytes;
      const pass =
        refused === total && forwarded === 0 && growth < MAX_GROWTH_BYTES && served === '/after-floods';
      return {
        did: `${total} flood requests (${FLOODS.map(([n]) => n).join(', ')}), ${concurrency} connections at a time`,
        outcome:
          `${refused}/${total} answered 431, ${forwarded} forwarded; peak RSS +${(growth / MiB).toFixed(1)} MB; ` +
          `a request after the floods: ${served}`,
        before,
        after,
        pass,
        figures: {
          total,
          refused,
          forwarded,
          peakRssGrowthMiB: Number((growth / MiB).toFixed(1)),
          answers: [...statuses].map(([k, v]) => `${v}x ${k}`).join(' | '),
        },
      };
    } finally {
      await p.close();
    }
  },
};
