import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderTemplate } from '../../src/profiles/template.js';
import { checkProfile } from './check.js';

const TARGET = { name: 'web-svc', namespace: 'emojivoto', clusterDomain: 'cluster.local' };
const TEMPLATE = renderTemplate(TARGET);

/**
 * The template with one commented-out example made live: the run of comment lines that
 * starts with `# <header>` at some indent, up to the first line that is not a comment at
 * that indent, loses its `# `.
 */
function uncomment(text: string, header: string, occurrence = 0): string {
  const lines = text.split('\n');
  const starts = lines.flatMap((line, i) => (line.trimStart() === `# ${header}` ? [i] : []));
  const start = starts[occurrence];
  assert.ok(start !== undefined, `no "# ${header}" (occurrence ${occurrence})`);
  const indent = (lines[start] as string).indexOf('#');
  const prefix = `${' '.repeat(indent)}# `;
  for (let i = start; i < lines.length && (lines[i] as string).startsWith(prefix); i++) {
    lines[i] = ' '.repeat(indent) + (lines[i] as string).slice(prefix.length);
  }
  return lines.join('\n');
}

test('the template, comments aside, is a valid profile of the Service', () => {
  const doc = checkProfile(TEMPLATE);
  assert.equal(doc.apiVersion, 'weft.io/v1alpha2');
  assert.deepEqual(doc.metadata, { name: 'web-svc.emojivoto.svc.cluster.local', namespace: 'emojivoto' });
  assert.deepEqual(doc.spec, {
    routes: [
      {
        name: '/authors/{id}',
        condition: { pathRegex: '/authors/\\d+', method: 'POST' },
        responseClasses: [{ condition: { status: { min: 500, max: 599 } }, isFailure: true }],
      },
    ],
  });
  assert.match(TEMPLATE, /^### ServiceProfile for web-svc\.emojivoto ###\n/);
});

test('the cluster domain and namespace go where the names are', () => {
  const text = renderTemplate({ name: 'books', namespace: 'shop', clusterDomain: 'example.org' });
  assert.equal(checkProfile(text).metadata.name, 'books.shop.svc.example.org');
  assert.match(text, /^ {2}# - authority: books-v2\.shop\.svc\.example\.org$/m);
});

test('the retry budget example, uncommented, is valid and holds the defaults', () => {
  const doc = checkProfile(uncomment(TEMPLATE, 'retryBudget:'));
  assert.deepEqual(doc.spec.retryBudget, { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' });
});

test('the dstOverrides example, uncommented, is valid: a tenth to the canary', () => {
  const doc = checkProfile(uncomment(TEMPLATE, 'dstOverrides:'));
  assert.deepEqual(doc.spec.dstOverrides, [
    { authority: 'web-svc.emojivoto.svc.cluster.local', weight: '900m' },
    { authority: 'web-svc-v2.emojivoto.svc.cluster.local', weight: '100m' },
  ]);
});

test('isRetryable, timeout and the condition examples, uncommented, are valid', () => {
  let text = TEMPLATE;
  for (const header of ['isRetryable: true', 'timeout: 250ms', 'all:', 'any:'])
    text = uncomment(text, header);
  // The second `all:` is the response class's.
  text = uncomment(text, 'all:', 0);
  const route = checkProfile(text).spec.routes[0] as unknown as Record<string, unknown>;
  assert.equal(route.isRetryable, true);
  assert.equal(route.timeout, '250ms');
  const condition = route.condition as Record<string, unknown>;
  assert.deepEqual(condition.all, [{ pathRegex: '/authors/\\d+' }, { method: 'POST' }]);
  assert.equal((condition.any as unknown[]).length, 2);
  const [responseClass] = route.responseClasses as Array<{ condition: Record<string, unknown> }>;
  assert.equal((responseClass?.condition.all as unknown[] | undefined)?.length, 2);
});

test('the open status range example, in place of the range, is valid', () => {
  const text = uncomment(
    TEMPLATE.replace('        status:\n          min: 500\n          max: 599\n', ''),
    'status:',
  );
  const route = checkProfile(text).spec.routes[0];
  assert.deepEqual(route?.responseClasses?.[0]?.condition, { status: { min: 400 } });
});
