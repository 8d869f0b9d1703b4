/**
 * Golden files: `weft profile` as a user runs it (the built bin/weft.js), its whole stdout
 * byte for byte against test/profiles/golden/, and each output a profile weft apply accepts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { weft } from '../helpers/controlplane.js';
import { REPO_ROOT } from '../helpers/proxy.js';
import { checkProfile } from './check.js';

const T = { timeout: 30_000 };
const golden = (name: string): string => readFileSync(join(REPO_ROOT, 'test/profiles/golden', name), 'utf8');
const F = 'test/profiles/fixtures';

const CASES: Array<{ golden: string; args: string[] }> = [
  {
    golden: 'emojivoto-web.yaml',
    args: ['-n', 'emojivoto', '--open-api', 'examples/emojivoto/emojivoto.swagger', 'web-svc'],
  },
  {
    golden: 'voting.yaml',
    args: ['--proto', 'examples/emojivoto/proto/Voting.proto', 'voting-svc', '-n', 'emojivoto'],
  },
  { golden: 'template.yaml', args: ['--template', 'web-svc', '-n', 'emojivoto'] },
  { golden: 'petstore.yaml', args: ['--open-api', `${F}/petstore.swagger2.json`, 'pets', '-n', 'store'] },
  {
    golden: 'bookstore.yaml',
    args: [
      '--open-api',
      `${F}/bookstore.openapi3.yaml`,
      'books',
      '-n',
      'store',
      '--cluster-domain',
      'example.org',
    ],
  },
  { golden: 'two-services.yaml', args: ['--proto', `${F}/two-services.proto`, 'inventory', '-n', 'shop'] },
];

for (const c of CASES) {
  test(`weft profile ${c.args.join(' ')} prints ${c.golden}`, T, async () => {
    const r = await weft(['profile', ...c.args]);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, golden(c.golden));
    checkProfile(r.stdout);
  });
}

test('the emojivoto web profile has exactly the two routes of the Linkerd guide', () => {
  const doc = checkProfile(golden('emojivoto-web.yaml'));
  assert.deepEqual(doc.metadata, { name: 'web-svc.emojivoto.svc.cluster.local', namespace: 'emojivoto' });
  assert.deepEqual(
    doc.spec.routes.map((r) => [r.name, r.condition.method, r.condition.pathRegex]),
    [
      ['GET /api/list', 'GET', '/api/list'],
      ['GET /api/vote', 'GET', '/api/vote'],
    ],
  );
});

test('the voting profile: VoteDoughnut is POST /emojivoto\\.v1\\.VotingService/VoteDoughnut', () => {
  const doc = checkProfile(golden('voting.yaml'));
  assert.equal(doc.metadata.name, 'voting-svc.emojivoto.svc.cluster.local');
  assert.deepEqual(
    doc.spec.routes.find((r) => r.name === 'VoteDoughnut'),
    {
      name: 'VoteDoughnut',
      condition: { method: 'POST', pathRegex: '/emojivoto\\.v1\\.VotingService/VoteDoughnut' },
    },
  );
  assert.equal(doc.spec.routes.at(-1)?.name, 'Results');
});
