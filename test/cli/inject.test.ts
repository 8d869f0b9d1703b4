/**
 * `weft inject` and `weft uninject` as a user runs them: the built bin/weft.js on a file, a
 * directory and stdin; what goes to stdout and stderr; exit codes for bad input and misuse.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { injectText } from '../../src/inject/inject.js';
import { makeTempDir, weft } from '../helpers/controlplane.js';
import { REPO_ROOT } from '../helpers/proxy.js';

const T = { timeout: 30_000 };
const fixture = (name: string): string => readFileSync(join(REPO_ROOT, 'test/inject/fixtures', name), 'utf8');
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;
const OPTS = {
  proxyImage: 'ghcr.io/weft-mesh/weft',
  proxyVersion: VERSION,
  cliVersion: VERSION,
  nativeSidecar: false,
};
const EMOJIVOTO = fixture('emojivoto.input.yaml');

test('a file: the injected YAML on stdout, what happened to each resource on stderr', T, async () => {
  const dir = makeTempDir('weft-inject-');
  const file = join(dir, 'emojivoto.yml');
  writeFileSync(file, EMOJIVOTO);
  const r = await weft(['inject', file]);
  assert.equal(r.code, 0, r.stderr);
  const expected = injectText(EMOJIVOTO, file, OPTS);
  assert.equal(r.stdout, expected.output);
  // The reports themselves are pinned in test/inject/golden.test.ts; here, that the CLI prints them.
  assert.equal(r.stderr, `${expected.reports.join('\n')}\n`);
  assert.equal(expected.reports.length, 11);
  assert.match(r.stdout, new RegExp(`image: ghcr\\.io/weft-mesh/weft:${VERSION.replace(/\./g, '\\.')}\\n`));
  assert.match(r.stdout, new RegExp(`weft\\.io/created-by: weft/cli ${VERSION.replace(/\./g, '\\.')}\\n`));
});

test('stdin, with - or no argument; uninject gives the input back byte for byte', T, async () => {
  const injected = await weft(['inject', '-', '--proxy-version', '1.2.3'], { input: EMOJIVOTO });
  assert.equal(injected.code, 0, injected.stderr);
  assert.equal(injected.stdout, injectText(EMOJIVOTO, 'stdin', { ...OPTS, proxyVersion: '1.2.3' }).output);
  assert.match(injected.stdout, /image: ghcr\.io\/weft-mesh\/weft:1\.2\.3\n/);
  const again = await weft(['inject'], { input: injected.stdout });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, injected.stdout);
  assert.match(again.stderr, /^deployment "web" skipped \(already injected\)$/m);
  assert.match(again.stderr, /^namespace "emojivoto" skipped \(already annotated\)$/m);
  const back = await weft(['uninject'], { input: injected.stdout });
  assert.equal(back.code, 0, back.stderr);
  assert.equal(back.stdout, EMOJIVOTO);
  assert.match(back.stderr, /^deployment "vote-bot" uninjected$/m);
  assert.match(back.stderr, /^service "web-svc" skipped \(not a workload\)$/m);
});

test('a directory: every manifest in it, recursively, joined with ---', T, async () => {
  const dir = makeTempDir('weft-inject-dir-');
  mkdirSync(join(dir, 'jobs'));
  writeFileSync(join(dir, 'a-deploy.yaml'), fixture('replicaset.input.yaml'));
  writeFileSync(join(dir, 'jobs', 'pi.yml'), fixture('job.input.yaml'));
  writeFileSync(join(dir, 'README.md'), '# not a manifest\n');
  const r = await weft(['inject', '--native-sidecar', dir]);
  assert.equal(r.code, 0, r.stderr);
  const native = { ...OPTS, nativeSidecar: true };
  assert.equal(
    r.stdout,
    `${injectText(fixture('replicaset.input.yaml'), 'a', native).output}---\n${injectText(fixture('job.input.yaml'), 'b', native).output}`,
  );
  assert.equal(r.stderr, 'replicaset "frontend" injected\njob "pi" injected\n');
  assert.match(r.stdout, /restartPolicy: Always\n/);
});

test('bad YAML: exit 1, the file and line named, nothing on stdout', T, async () => {
  const dir = makeTempDir('weft-inject-bad-');
  writeFileSync(join(dir, 'a-good.yaml'), fixture('job.input.yaml'));
  const bad = join(dir, 'b-bad.yaml');
  writeFileSync(bad, 'apiVersion: v1\nkind: Pod\nmetadata: {name: x\n');
  for (const args of [
    ['inject', dir],
    ['inject', bad],
    ['uninject', dir],
  ]) {
    const r = await weft(args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      new RegExp(
        `^weft: ${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: line \\d+, column \\d+: not valid YAML`,
      ),
    );
  }
});

test('a bad annotation, a document that is not a resource, a missing file: exit 1, named', T, async () => {
  const withPort = fixture('job.input.yaml').replace(
    'metadata:\n  name: pi\n',
    'metadata:\n  name: pi\n  annotations:\n    config.weft.io/skip-outbound-ports: "5432,ssh"\n',
  );
  let r = await weft(['inject', '-'], { input: `kind: Service\nmetadata: {name: s}\n---\n${withPort}` });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^weft: stdin, document 2 \(job "pi"\): config\.weft\.io\/skip-outbound-ports: "ssh" is not a port or a port range/,
  );
  r = await weft(['inject'], { input: '- just\n- a list\n' });
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'weft: stdin: not a Kubernetes resource: the document is a list, not a mapping\n');
  r = await weft(['inject', 'no/such/file.yaml']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'weft: no/such/file.yaml: no such file or directory\n');
});

test('misuse: exit 2 naming the flag', T, async () => {
  let r = await weft(['inject', '--proxy-image', 'ghcr.io/weft-mesh/weft:0.1.0', '-'], { input: EMOJIVOTO });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--proxy-image: "ghcr\.io\/weft-mesh\/weft:0\.1\.0" has a tag or digest/);
  assert.equal(r.stdout, '');
  r = await weft(['inject', '--proxy-version', 'not a tag', '-'], { input: EMOJIVOTO });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--proxy-version: "not a tag" is not an image tag/);
  r = await weft(['uninject', '--native-sidecar']);
  assert.equal(r.code, 2);
});

test("the init container's arguments are ones weft init takes", T, async () => {
  const out = injectText(fixture('pod-config.input.yaml'), 'p', OPTS).output;
  const block = /- name: weft-init\n(?:.*\n)*?\s+args:\n((?:\s+- .*\n)+)/.exec(out)?.[1] ?? '';
  const args = block
    .trim()
    .split('\n')
    .map((l) =>
      l
        .trim()
        .replace(/^- /, '')
        .replace(/^"(.*)"$/, '$1'),
    );
  assert.equal(args[0], 'init');
  const r = await weft([...args, '--simulate']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /--dports 4190,4191,4567,4568,22,3000:3010 -j RETURN/);
  assert.match(r.stdout, /--uid-owner 2200/);
});

test('inject --help names the flags', T, async () => {
  const r = await weft(['inject', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--proxy-image', '--proxy-version', '--native-sidecar'])
    assert.ok(r.stdout.includes(flag));
});
