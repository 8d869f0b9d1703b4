/** The demo's reading of weft up's log: its recent lines, bounded, and each pod's last problem. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UpLog } from '../../src/demo/up-log.js';

const line = (fields: Record<string, unknown>): string =>
  `${JSON.stringify({ time: 1, pid: 1, ...fields })}\n`;

describe("the demo's view of weft up's log", () => {
  test("a workload's last warn or error line, in its namespace, across chunks", () => {
    const log = new UpLog('emojivoto');
    const warn = line({ level: 40, namespace: 'emojivoto', deployment: 'web', err: 'first', msg: 'm' });
    log.push(warn.slice(0, 20), 'out');
    assert.equal(log.problem('web'), undefined, 'half a line is not read');
    log.push(warn.slice(20), 'out');
    log.push(line({ level: 30, namespace: 'emojivoto', deployment: 'web', msg: 'pod running' }), 'out');
    log.push(line({ level: 50, namespace: 'other', deployment: 'web', err: 'elsewhere' }), 'out');
    log.push(line({ level: 40, namespace: 'emojivoto', workload: 'web', msg: 'no err field' }), 'out');
    assert.deepEqual(log.problem('web'), { error: 'no err field', count: 2 });
    log.push('weft: not a JSON line\n', 'err');
    assert.equal(log.problem('voting'), undefined);
    assert.equal(log.tail(6).length, 5, 'every whole line is kept');
    assert.deepEqual(log.tail(1), ['weft: not a JSON line']);
  });

  test('it keeps the last 1000 lines', () => {
    const log = new UpLog('emojivoto');
    log.push(Array.from({ length: 1100 }, (_, i) => `line ${i}\n`).join(''), 'err');
    const tail = log.tail(2000);
    assert.equal(tail.length, 1000);
    assert.equal(tail[0], 'line 100');
    assert.deepEqual(log.tail(1), ['line 1099']);
  });
});
