/**
 * `weft profile` as a user runs it: stdin, exit codes, and errors that name the file and
 * the problem with nothing on stdout (the generators' own errors are in test/profiles/).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { weft } from '../helpers/controlplane.js';
import { REPO_ROOT } from '../helpers/proxy.js';

const T = { timeout: 30_000 };
const F = 'test/profiles/fixtures';
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');

async function fails(args: string[], code: number, stderr: string | RegExp, input?: string): Promise<void> {
  const r = await weft(['profile', ...args], input === undefined ? {} : { input });
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stdout, '');
  if (typeof stderr === 'string') assert.equal(r.stderr, stderr);
  else assert.match(r.stderr, stderr);
}

test('- reads the spec from stdin: the same profile as from the file', T, async () => {
  for (const [flag, file, golden] of [
    ['--open-api', 'examples/emojivoto/emojivoto.swagger', 'emojivoto-web.yaml'],
    ['--proto', 'examples/emojivoto/proto/Voting.proto', 'voting.yaml'],
  ] as const) {
    const r = await weft(['profile', flag, '-', 'x', '-n', 'emojivoto'], { input: read(file) });
    assert.equal(r.code, 0, r.stderr);
    const expected = read(`test/profiles/golden/${golden}`).replace(/^ {2}name: [a-z-]+\./m, '  name: x.');
    assert.equal(r.stdout, expected);
  }
});

test('bad input: exit 1, the file and the problem on stderr', T, async () => {
  await fails(['--open-api', 'no/such.swagger', 'web-svc'], 1, 'weft: no/such.swagger: no such file\n');
  await fails(['--proto', F, 'web-svc'], 1, `weft: ${F}: is a directory, not a file\n`);
  await fails(
    ['--open-api', `${F}/broken.yaml`, 'web-svc'],
    1,
    `weft: ${F}/broken.yaml: line 7, column 3: not valid YAML or JSON: Flow map in block collection must be sufficiently indented and end with a }\n`,
  );
  await fails(
    ['--open-api', '-', 'web-svc'],
    1,
    'weft: stdin: line 2, column 1: not valid YAML or JSON: Flow map in block collection must be sufficiently indented and end with a }\n',
    '{"swagger": "2.0", "paths": {\n',
  );
  await fails(
    ['--open-api', `${F}/swagger-no-paths.yaml`, 'web-svc'],
    1,
    `weft: ${F}/swagger-no-paths.yaml: no "paths": the document lists no operations\n`,
  );
  await fails(
    ['--open-api', `${F}/not-openapi.yaml`, 'web-svc'],
    1,
    `weft: ${F}/not-openapi.yaml: not an OpenAPI 3 or Swagger 2 document: it has no "openapi: 3.x" or "swagger: \\"2.0\\"" field\n`,
  );
  await fails(
    ['--open-api', `${F}/bad-method.yaml`, 'web-svc'],
    1,
    `weft: ${F}/bad-method.yaml: paths["/api/list"]: "fetch" is not an HTTP method (operations are get, put, post, delete, options, head, patch, trace)\n`,
  );
  await fails(
    ['--proto', `${F}/syntax-error.proto`, 'web-svc'],
    1,
    `weft: ${F}/syntax-error.proto: line 7: not a valid .proto file: illegal token 'rpc', ';' expected\n`,
  );
  await fails(
    ['--proto', `${F}/no-service.proto`, 'web-svc'],
    1,
    `weft: ${F}/no-service.proto: defines no service (a profile from a .proto has a route per rpc of its services)\n`,
  );
});

test('misuse: exit 2 naming the flag or argument', T, async () => {
  await fails(['web-svc'], 2, 'weft: profile: give one of --template, --open-api <file> or --proto <file>\n');
  await fails(
    ['--template', '--proto', `${F}/no-package.proto`, 'web-svc'],
    2,
    'weft: profile: give only one of --template, --proto\n',
  );
  await fails(['--template'], 2, /^error: missing required argument 'name'\n/);
  await fails(
    ['--template', 'Web_Svc'],
    2,
    `weft: name: "Web_Svc" must consist of lowercase alphanumeric characters or '-', and start and end with an alphanumeric character\n`,
  );
  await fails(
    ['--template', 'web-svc', '-n', 'emojivoto.prod'],
    2,
    `weft: --namespace: "emojivoto.prod" must consist of lowercase alphanumeric characters or '-', and start and end with an alphanumeric character\n`,
  );
  await fails(
    ['--template', 'web-svc', '--cluster-domain', 'cluster..local'],
    2,
    /^weft: --cluster-domain: "cluster\.\.local" /,
  );
  // A name that is not valid is refused before the file is read.
  await fails(['--open-api', 'no/such.swagger', '-n', 'NS', 'web-svc'], 2, /^weft: --namespace: "NS" /);
});

test(
  'the profile name, <name>.<namespace>.svc.<domain>, is at most 253 characters: weft profile and weft viz profile refuse a longer one alike, exit 2',
  T,
  async () => {
    const domain = Array(4).fill('a'.repeat(60)).join('.');
    const tooLong =
      /^weft: the profile name: "web-svc\.default\.svc\.a{60}(\.a{60}){3}" must be no more than 253 characters\n$/;
    await fails(['--template', 'web-svc', '--cluster-domain', domain], 2, tooLong);
    // viz profile checks before it asks viz for anything: no viz listens here.
    const r = await weft([
      'viz',
      'profile',
      'web-svc',
      '--tap',
      'deploy/web',
      '--cluster-domain',
      domain,
      '--viz-addr',
      '127.0.0.1:1',
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, tooLong);
  },
);
