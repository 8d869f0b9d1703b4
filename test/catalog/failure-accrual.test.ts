import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONSECUTIVE_DEFAULTS, readFailureAccrual } from '../../src/catalog/failure-accrual.js';
import { validateDocuments } from '../../src/catalog/validate.js';
import { validationProblems } from '../helpers/catalog.js';

const L = 'balancer.linkerd.io/';
const W = 'balancer.weft.io/';

function service(annotations: Record<string, string>, name = 'web'): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, annotations },
    spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
  };
}

test("no annotation, or unrelated ones: no failure accrual (Linkerd's default)", () => {
  assert.deepEqual(readFailureAccrual({}), { accrual: { kind: 'none' }, problems: [] });
  assert.deepEqual(readFailureAccrual({ note: 'x', 'balancer.example.com/failure-accrual': 'y' }), {
    accrual: { kind: 'none' },
    problems: [],
  });
  // Settings without the mode are checked, and change nothing.
  assert.deepEqual(readFailureAccrual({ [`${L}failure-accrual-consecutive-max-failures`]: '3' }), {
    accrual: { kind: 'none' },
    problems: [],
  });
});

test("consecutive alone takes Linkerd's defaults: 7 failures, 1s to 1m, jitter ratio 0.5", () => {
  assert.deepEqual(CONSECUTIVE_DEFAULTS, {
    maxFailures: 7,
    minPenaltyMs: 1000,
    maxPenaltyMs: 60_000,
    jitterRatio: 0.5,
  });
  for (const prefix of [L, W]) {
    assert.deepEqual(readFailureAccrual({ [`${prefix}failure-accrual`]: 'consecutive' }).accrual, {
      kind: 'consecutive',
      ...CONSECUTIVE_DEFAULTS,
    });
  }
});

test('every setting is read, in either form; the weft.io form wins when both are set', () => {
  assert.deepEqual(
    readFailureAccrual({
      [`${L}failure-accrual`]: 'consecutive',
      [`${L}failure-accrual-consecutive-max-failures`]: '3',
      [`${L}failure-accrual-consecutive-min-penalty`]: '250ms',
      [`${L}failure-accrual-consecutive-max-penalty`]: '2m',
      [`${L}failure-accrual-consecutive-jitter-ratio`]: '1.0',
    }).accrual,
    { kind: 'consecutive', maxFailures: 3, minPenaltyMs: 250, maxPenaltyMs: 120_000, jitterRatio: 1 },
  );
  assert.deepEqual(
    readFailureAccrual({
      [`${L}failure-accrual`]: 'consecutive',
      [`${L}failure-accrual-consecutive-max-failures`]: '3',
      [`${W}failure-accrual-consecutive-max-failures`]: '5',
      [`${W}failure-accrual-consecutive-max-penalty`]: '1d',
      [`${L}failure-accrual-consecutive-jitter-ratio`]: '0',
    }).accrual,
    { kind: 'consecutive', maxFailures: 5, minPenaltyMs: 1000, maxPenaltyMs: 86_400_000, jitterRatio: 0 },
  );
  // Durations as Go writes them read too.
  const goForm = readFailureAccrual({
    [`${L}failure-accrual`]: 'consecutive',
    [`${L}failure-accrual-consecutive-min-penalty`]: '1m30s',
    [`${L}failure-accrual-consecutive-max-penalty`]: '1h30m',
  }).accrual;
  assert.deepEqual(
    goForm.kind === 'consecutive' && [goForm.minPenaltyMs, goForm.maxPenaltyMs],
    [90_000, 5_400_000],
  );
});

test('bad values are problems naming the annotation, and mean no failure accrual', () => {
  const cases: Array<[string, string, string]> = [
    [
      'failure-accrual',
      'sometimes',
      '"sometimes" is not a failure accrual mode (the one there is: "consecutive")',
    ],
    ['failure-accrual-consecutive-max-failures', 'three', '"three" is not a whole number of failures'],
    ['failure-accrual-consecutive-max-failures', '-1', '"-1" is not a whole number of failures'],
    ['failure-accrual-consecutive-max-failures', '0', 'must be at least 1'],
    ['failure-accrual-consecutive-max-failures', '4294967296', 'must be at most 4294967295'],
    ['failure-accrual-consecutive-min-penalty', 'soon', '"soon" is not a duration (use e.g. 100ms, 1s, 2m)'],
    ['failure-accrual-consecutive-min-penalty', '0s', 'must be above zero'],
    ['failure-accrual-consecutive-max-penalty', '30', '"30" is not a duration (use e.g. 100ms, 1s, 2m)'],
    ['failure-accrual-consecutive-max-penalty', '25d', '"25d" is too long'],
    ['failure-accrual-consecutive-jitter-ratio', 'half', '"half" is not a number (use e.g. 0.5)'],
    ['failure-accrual-consecutive-jitter-ratio', '-0.5', '"-0.5" is not a number (use e.g. 0.5)'],
    ['failure-accrual-consecutive-jitter-ratio', '100.5', 'must be from 0 to 100'],
  ];
  for (const [key, value, message] of cases) {
    const reading = readFailureAccrual({ [`${L}failure-accrual`]: 'consecutive', [`${L}${key}`]: value });
    assert.deepEqual(reading, {
      accrual: { kind: 'none' },
      problems: [{ annotation: `${L}${key}`, message }],
    });
  }
  // A bad Linkerd form is a problem even when the weft.io form is good.
  assert.deepEqual(
    readFailureAccrual({ [`${W}failure-accrual`]: 'consecutive', [`${L}failure-accrual`]: 'yes' }).problems,
    [
      {
        annotation: `${L}failure-accrual`,
        message: '"yes" is not a failure accrual mode (the one there is: "consecutive")',
      },
    ],
  );
});

test('a min penalty above the max (given or default) is a problem; unknown weft.io annotations too', () => {
  assert.deepEqual(
    readFailureAccrual({
      [`${L}failure-accrual-consecutive-min-penalty`]: '2m',
      [`${L}failure-accrual-consecutive-max-penalty`]: '1m',
    }).problems,
    [
      {
        annotation: `${L}failure-accrual-consecutive-min-penalty`,
        message: `the min penalty (120000 ms, ${L}failure-accrual-consecutive-min-penalty) is above the max penalty (60000 ms, ${L}failure-accrual-consecutive-max-penalty)`,
      },
    ],
  );
  assert.deepEqual(
    readFailureAccrual({ [`${W}failure-accrual-consecutive-max-penalty`]: '500ms' }).problems,
    [
      {
        annotation: `${W}failure-accrual-consecutive-max-penalty`,
        message: `the min penalty (1000 ms, the default) is above the max penalty (500 ms, ${W}failure-accrual-consecutive-max-penalty)`,
      },
    ],
  );
  const [unknown] = readFailureAccrual({ [`${W}failure-acrual`]: 'consecutive' }).problems;
  assert.equal(unknown?.annotation, `${W}failure-acrual`);
  assert.match(unknown?.message ?? '', /^unknown annotation \(known: balancer\.weft\.io\/failure-accrual, /);
});

test('weft apply validates the annotations: a bad value refuses the whole batch, naming document and annotation', () => {
  const good = {
    source: 'svc.yaml, document 1',
    value: service({ [`${L}failure-accrual`]: 'consecutive' }, 'api'),
  };
  const bad = {
    source: 'svc.yaml, document 2',
    value: service({
      [`${L}failure-accrual`]: 'consecutive',
      [`${W}failure-accrual-consecutive-max-failures`]: 'many',
    }),
  };
  assert.deepEqual(validationProblems([good, bad]), [
    `svc.yaml, document 2 (Service web): metadata.annotations.${W}failure-accrual-consecutive-max-failures: "many" is not a whole number of failures`,
  ]);
  // Valid, they are stored as they were written.
  const [r] = validateDocuments([good]);
  assert.deepEqual(r?.kind === 'Service' && r.spec.annotations, { [`${L}failure-accrual`]: 'consecutive' });
});
