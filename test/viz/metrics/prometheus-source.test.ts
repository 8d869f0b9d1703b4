/**
 * PrometheusSource against the real Prometheus (a refused query, a label value with every
 * character that needs escaping, a range query) and against servers that fail in the
 * ways a Prometheus URL can (unreachable, hanging, not Prometheus, too big).
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { renderLabels } from '../../../src/metrics/registry.js';
import { PrometheusSource } from '../../../src/viz/metrics/prometheus.js';
import { eq, type Query } from '../../../src/viz/metrics/query.js';
import { MetricsSourceError } from '../../../src/viz/metrics/source.js';
import {
  Cleanup,
  deferred,
  type HttpUpstream,
  refusedPort,
  startHttpServer,
  waitFor,
  withTimeout,
} from '../../helpers/net.js';
import {
  httpSdScrapeConfig,
  type PrometheusServer,
  startHttpSd,
  startPrometheus,
} from '../../helpers/prometheus.js';

const T = { timeout: 60_000 };
/** A label value with quotes, backslashes, a newline, a tab, a brace and non-ASCII text. */
const NASTY = 'a"b\\c\nd\te}f é';

const gauge = (matchers = [eq('v', NASTY)]): Query => ({
  kind: 'gauge',
  selector: { metric: 'things', matchers },
  by: ['v'],
});

async function rejection(p: Promise<unknown>): Promise<MetricsSourceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MetricsSourceError, `not a MetricsSourceError: ${String(err)}`);
    return err;
  }
  assert.fail('the query did not fail');
}

describe('PrometheusSource with the real Prometheus', () => {
  const cleanup = new Cleanup();
  let prom: PrometheusServer;
  let source: PrometheusSource;

  before(async () => {
    const page = `# TYPE things gauge\nthings${renderLabels([['v', NASTY]])} 42\nthings{v="plain"} 1\n`;
    const target = await startHttpServer((_req, res: http.ServerResponse) => res.end(page));
    cleanup.add(() => target.close());
    // Found by HTTP service discovery (the helper's other way to give Prometheus targets).
    const sd = await startHttpSd([{ targets: [`127.0.0.1:${target.port}`], labels: { pod: 'things-1' } }]);
    cleanup.add(() => sd.close());
    prom = await startPrometheus({ scrapeConfigs: [httpSdScrapeConfig('things', sd.url)] });
    cleanup.add(() => prom.stop());
    source = new PrometheusSource(prom.url);
    cleanup.add(() => source.close());
    await waitFor(
      async () => (await source.instant(gauge([]))).length === 2,
      'the first scrape',
      20_000,
      100,
    );
  });
  after(() => cleanup.run());

  test('a label value with every character that needs escaping selects its series', T, async () => {
    assert.deepEqual(await source.instant(gauge()), [{ labels: { v: NASTY }, value: 42 }]);
    const notNasty = await source.instant(gauge([{ label: 'v', op: '!=', value: NASTY }]));
    assert.deepEqual(notNasty, [{ labels: { v: 'plain' }, value: 1 }]);
    const byPod = await source.instant({ ...gauge([]), by: ['pod', 'job'] });
    assert.deepEqual(byPod, [{ labels: { pod: 'things-1', job: 'things' }, value: 43 }]);
  });

  test('a range query answers a point per step, times in ms', T, async () => {
    const end = Date.now();
    const [series, ...rest] = await source.range(gauge(), end - 2000, end, 500);
    assert.equal(rest.length, 0);
    assert.deepEqual(series?.labels, { v: NASTY });
    const times = series?.points.map(([t]) => t) ?? [];
    assert.ok(times.length >= 1 && times.every((t) => (t - (end - 2000)) % 500 === 0), `times ${times}`);
    assert.ok(series?.points.every(([, v]) => v === 42));
  });

  test("a query Prometheus refuses fails with Prometheus's own reason", T, async () => {
    const err = await rejection(source.instant(gauge([{ label: 'v', op: '=~', value: 'a(b' }])));
    assert.match(err.message, new RegExp(`^${prom.url}/api/v1/query refused `));
    assert.match(err.message, /HTTP 400, bad_data/);
    assert.match(err.message, /error parsing regexp: missing closing \)/);
  });

  test('an invalid metric name is refused before it is sent', T, async () => {
    const err = await rejection(
      source.instant({ ...gauge([]), selector: { metric: 'not-a-name', matchers: [] } }),
    );
    assert.match(err.message, /"not-a-name" is not a valid metric name/);
  });
});

describe('PrometheusSource failures', () => {
  const cleanup = new Cleanup();
  let fake: HttpUpstream;
  /** What the fake server does with the next request. */
  let answer: (res: http.ServerResponse) => void = (res) => res.end();
  const query = gauge([]);

  before(async () => {
    fake = await startHttpServer((_req, res) => answer(res));
    cleanup.add(() => fake.close());
  });
  after(() => cleanup.run());

  const sourceFor = (options = {}) => {
    const s = new PrometheusSource(`http://127.0.0.1:${fake.port}/prefix`, options);
    cleanup.add(() => s.close());
    return s;
  };

  test('an unreachable URL names the URL and the network error', T, async () => {
    const port = await refusedPort();
    const err = await rejection(new PrometheusSource(`http://127.0.0.1:${port}`).instant(query));
    assert.equal(err.message, `http://127.0.0.1:${port}/api/v1/query is unreachable: ECONNREFUSED`);
  });

  test('a server that does not answer in time', T, async () => {
    answer = () => {}; // never answers
    const err = await rejection(sourceFor({ timeoutMs: 300 }).range(query, 0, 1000, 100));
    assert.equal(
      err.message,
      `http://127.0.0.1:${fake.port}/prefix/api/v1/query_range did not answer within 300 ms`,
    );
  });

  test('an HTTP error status that is not a Prometheus error', T, async () => {
    answer = (res) => res.writeHead(502).end('bad gateway from a proxy');
    const err = await rejection(sourceFor().instant(query));
    assert.equal(
      err.message,
      `http://127.0.0.1:${fake.port}/prefix/api/v1/query answered HTTP 502: bad gateway from a proxy`,
    );
  });

  test('an answer that is not the Prometheus API', T, async () => {
    answer = (res) => res.end('<html>hello</html>');
    assert.match(
      (await rejection(sourceFor().instant(query))).message,
      /answered with something that is not a Prometheus API answer: <html>/,
    );
  });

  test('an unexpected result type', T, async () => {
    answer = (res) =>
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '2'] } }));
    assert.match(
      (await rejection(sourceFor().instant(query))).message,
      /with a scalar result, expected a vector$/,
    );
    answer = (res) =>
      res.end(
        JSON.stringify({
          status: 'success',
          data: { resultType: 'vector', result: [{ metric: {}, value: [1, 2] }] },
        }),
      );
    assert.match((await rejection(sourceFor().instant(query))).message, /with a malformed series/);
  });

  test('an answer larger than the bound, announced or streamed', T, async () => {
    const big = JSON.stringify({
      status: 'success',
      data: { resultType: 'vector', result: [] },
      pad: 'x'.repeat(200_000),
    });
    answer = (res) => res.end(big);
    assert.match(
      (await rejection(sourceFor({ maxResponseBytes: 100_000 }).instant(query))).message,
      /answered \d+ bytes, more than the limit of 100000/,
    );
    answer = (res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write(big.slice(0, 100_000));
      res.end(big.slice(100_000));
    };
    assert.match(
      (await rejection(sourceFor({ maxResponseBytes: 100_000 }).instant(query))).message,
      /answered more than the limit of 100000 bytes/,
    );
  });

  test('close() cancels a query in flight', T, async () => {
    const arrived = deferred();
    answer = () => arrived.resolve();
    const s = sourceFor();
    const pending = rejection(s.instant(query));
    await withTimeout(arrived.promise, 10_000, 'the request to arrive');
    s.close();
    assert.match((await pending).message, /source closed/);
    assert.match((await rejection(s.instant(query))).message, /source closed/);
  });
});
