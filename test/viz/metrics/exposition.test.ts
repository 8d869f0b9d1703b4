import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpMetrics } from '../../../src/metrics/http.js';
import { Registry, renderLabels } from '../../../src/metrics/registry.js';
import { RouteMetrics } from '../../../src/metrics/route.js';
import { TcpMetrics } from '../../../src/metrics/tcp.js';
import {
  type Exposition,
  ExpositionError,
  parseExposition,
  parseFloatGo,
} from '../../../src/viz/metrics/exposition.js';

/** A registry like a busy proxy's, with label values that need escaping. */
function proxyRegistry(): Registry {
  const registry = new Registry();
  const http = new HttpMetrics(registry);
  const tcp = new TcpMetrics(registry);
  const routes = new RouteMetrics(registry);
  const peer = [
    ['dst_deployment', 'web'],
    ['dst_namespace', 'emojivoto'],
    ['tls', 'true'],
  ] as const;
  const web = http.stats('outbound', 'web.emojivoto.svc.cluster.local:80').with(peer);
  web.requests.inc(41);
  web.response(200, undefined, false).inc(40);
  web.response(503, undefined, false).inc();
  web.latency(200).observe(3);
  web.latency(200).observe(7.5);
  web.latency(503).observe(20_000);
  const odd = http.stats('inbound', 'we"ird\\authority\nwith a newline');
  odd.requests.inc();
  odd.response(200, 0, true).inc();
  const conn = tcp.stats('inbound', 'src', [['tls', 'true']]);
  conn.openTotal.inc(3);
  conn.closeTotal.inc(2);
  conn.openConnections.inc();
  const route = routes.stats('outbound', 'web:80', { name: 'GET /api/list', isFailure: () => false });
  route.logical.requests.inc(5);
  route.logical.latency(200).observe(12);
  route.retries?.inc(2);
  return registry;
}

/** Renders a parsed page the way our Registry renders (labels in their order). */
function rerender(page: Exposition): string {
  const out: string[] = [];
  let family = '';
  for (const s of page.samples) {
    const f =
      [...page.types.keys()].find((name) => s.name === name || s.name.startsWith(`${name}_`)) ?? s.name;
    // Families in page order: HELP and TYPE before a family's first sample.
    if (f !== family) {
      family = f;
      out.push(`# HELP ${f} ${page.help.get(f)}\n# TYPE ${f} ${page.types.get(f)}\n`);
    }
    out.push(`${s.name}${renderLabels(Object.entries(s.labels ?? {}))} ${s.value}\n`);
  }
  return out.join('');
}

test("our Registry's page parses and renders back byte for byte", () => {
  const registry = proxyRegistry();
  const text = registry.render();
  const page = parseExposition(text);
  // Families without series render only HELP/TYPE, which rerender cannot see: drop them.
  const withSeries = text
    .split(/(?=# HELP )/)
    .filter((chunk) => chunk.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length > 0)
    .join('');
  assert.equal(rerender(page), withSeries);
  assert.equal(page.types.get('response_latency_ms'), 'histogram');
  assert.equal(page.types.get('tcp_open_connections'), 'gauge');
  assert.equal(page.help.get('tcp_open_total'), 'Total count of opened connections.');
  const odd = page.samples.find((s) => s.name === 'request_total' && s.labels?.direction === 'inbound');
  assert.deepEqual(odd?.labels, { direction: 'inbound', authority: 'we"ird\\authority\nwith a newline' });
  const inf = page.samples.find(
    (s) =>
      s.name === 'response_latency_ms_bucket' && s.labels?.le === '+Inf' && s.labels?.status_code === '503',
  );
  assert.equal(inf?.value, 1);
});

test('keep filters by sample name, maxSeries bounds the kept samples, known skips label parsing', () => {
  const text = proxyRegistry().render();
  const keep = new Set(['request_total', 'tcp_open_connections']);
  const page = parseExposition(text, { keep });
  assert.deepEqual([...new Set(page.samples.map((s) => s.name))].sort(), [...keep].sort());
  assert.equal(page.samples.length, 3);
  assert.throws(
    () => parseExposition(text, { keep, maxSeries: 2 }),
    (err: unknown) => err instanceof ExpositionError && /more than 2 series/.test(err.message),
  );
  const known = new Set(page.samples.map((s) => s.raw).slice(0, 2));
  const again = parseExposition(text, { keep, known: (raw) => known.has(raw) });
  assert.deepEqual(
    again.samples.map((s) => s.labels === undefined),
    [true, true, false],
  );
  assert.deepEqual(
    again.samples.map((s) => s.value),
    page.samples.map((s) => s.value),
  );
  // A line of a family that is not kept is not even checked.
  assert.equal(parseExposition('junk{ this is not valid\nx 1\n', { keep: new Set(['x']) }).samples.length, 1);
});

test('values, timestamps, escapes and whitespace as Prometheus reads them', () => {
  const page = parseExposition(
    [
      '# A comment that is neither HELP nor TYPE',
      '# HELP x A \\\\ backslash\\nand a newline',
      '# TYPE x gauge',
      'x{a="1"} +Inf',
      'x{a="2"} -Inf 1700000000123',
      'x{a="3"} NaN',
      'x{a="4"} 1.5e3',
      'x{a="5"} -0.25 -5',
      '  x { a = "6" , b="t\\tab}" , } \t 7  ',
      'x{a="7",c="q\\"\\\\\\n"} .5',
      'y 42',
      '',
    ].join('\n'),
  );
  const by = (a: string) => page.samples.find((s) => s.labels?.a === a);
  assert.equal(page.help.get('x'), 'A \\ backslash\nand a newline');
  assert.equal(by('1')?.value, Number.POSITIVE_INFINITY);
  assert.equal(by('2')?.value, Number.NEGATIVE_INFINITY);
  assert.equal(by('2')?.timestampMs, 1_700_000_000_123);
  assert.ok(Number.isNaN(by('3')?.value));
  assert.equal(by('4')?.value, 1500);
  assert.equal(by('5')?.timestampMs, -5);
  assert.equal(by('1')?.timestampMs, undefined);
  // Only \\, \" and \n are escapes; `\t` stays two characters. A `}` in a value is text.
  assert.deepEqual(by('6')?.labels, { a: '6', b: 't\\tab}' });
  assert.equal(by('6')?.value, 7);
  assert.deepEqual(by('7')?.labels, { a: '7', c: 'q"\\\n' });
  assert.equal(by('7')?.value, 0.5);
  assert.deepEqual(page.samples.at(-1), {
    name: 'y',
    raw: 'y',
    labels: {},
    value: 42,
    timestampMs: undefined,
  });
  assert.equal(parseFloatGo('Infinity'), Number.POSITIVE_INFINITY);
  assert.equal(parseFloatGo('0x10'), undefined);
  assert.equal(parseFloatGo(''), undefined);
  assert.equal(parseFloatGo('1_000'), undefined);
});

test('malformed lines are errors that name the line', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['ok 1\nx{a="b" 1\n', 2, /unterminated label block/],
    ['ok 1\n\nx{a=b} 1\n', 3, /expected a quoted value for label "a"/],
    ['x{a="b"} 1 2 3\n', 1, /unexpected text after the timestamp/],
    ['ok 1\nx two\n', 2, /invalid value "two"/],
    ['x{a="b"}\n', 1, /expected a blank and a value/],
    ['x 1 1.5\n', 1, /invalid timestamp "1.5"/],
    ['# TYPE x bogus\n', 1, /invalid metric type "bogus"/],
    ['# HELP 1x help\n', 1, /invalid metric name "1x"/],
    ['x{a="1",a="2"} 1\n', 1, /duplicate label "a"/],
    ['x{a="1" b="2"} 1\n', 1, /expected , or } after label "a"/],
    ['x{1a="1"} 1\n', 1, /expected a label name/],
    ['x{a="1\n} 1\n', 1, /unterminated label block/],
    ['a 1\nb 2\nc 3\n-d 4\n', 4, /expected a metric name, got "-d 4"/],
    ['x{__name__="y"} 1\n', 1, /__name__ is not allowed/],
  ];
  for (const [text, line, message] of cases) {
    assert.throws(
      () => parseExposition(text),
      (err: unknown) => {
        assert.ok(err instanceof ExpositionError, `${JSON.stringify(text)} threw ${String(err)}`);
        assert.equal(err.line, line, `${JSON.stringify(text)}: ${err.message}`);
        assert.match(err.message, message);
        assert.match(err.message, new RegExp(`^line ${line}: `));
        return true;
      },
    );
  }
});
