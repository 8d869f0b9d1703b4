import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderProfile } from '../../src/profiles/document.js';
import { ProfileError } from '../../src/profiles/errors.js';
import { protoRoutes } from '../../src/profiles/proto.js';
import { REPO_ROOT } from '../helpers/proxy.js';
import { checkProfile, proxyRegex } from './check.js';

const TARGET = { name: 'voting-svc', namespace: 'emojivoto', clusterDomain: 'cluster.local' };
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');
const fixture = (name: string): string => read(`test/profiles/fixtures/${name}`);

function generate(text: string, source = 'api.proto') {
  const routes = protoRoutes(text, source);
  checkProfile(renderProfile(TARGET, routes, source));
  return routes;
}

function rejects(text: string, message: string, source = 'api.proto'): void {
  assert.throws(
    () => protoRoutes(text, source),
    (err: unknown) => err instanceof ProfileError && err.message === message,
    `expected: ${message}`,
  );
}

test('Voting.proto: a POST route per rpc, in the file order, named by the method as Linkerd names them', () => {
  const text = read('examples/emojivoto/proto/Voting.proto');
  const rpcs = [...text.matchAll(/^\s*rpc (\w+) /gm)].map((m) => m[1]);
  assert.ok(rpcs.length > 90, `${rpcs.length} rpcs`);
  const routes = generate(text);
  assert.deepEqual(
    routes.map((r) => r.name),
    rpcs,
  );
  for (const r of routes) {
    assert.deepEqual(r, {
      name: r.name,
      condition: { method: 'POST', pathRegex: `/emojivoto\\.v1\\.VotingService/${r.name}` },
    });
  }
  const doughnut = routes.find((r) => r.name === 'VoteDoughnut');
  assert.equal(doughnut?.condition.pathRegex, '/emojivoto\\.v1\\.VotingService/VoteDoughnut');
  const re = proxyRegex(doughnut?.condition.pathRegex ?? '');
  assert.ok(re.test('/emojivoto.v1.VotingService/VoteDoughnut'));
  assert.ok(!re.test('/emojivotoXv1.VotingService/VoteDoughnut'), 'the dots are literal');
});

test('several services: methods of the same name are named by their full path; idempotent ones retryable', () => {
  // Its imports do not exist: only this file is read.
  assert.deepEqual(generate(fixture('two-services.proto')), [
    {
      name: '/shop.inventory.v1.Catalog/Get',
      condition: { method: 'POST', pathRegex: '/shop\\.inventory\\.v1\\.Catalog/Get' },
      isRetryable: true,
    },
    { name: 'List', condition: { method: 'POST', pathRegex: '/shop\\.inventory\\.v1\\.Catalog/List' } },
    {
      name: '/shop.inventory.v1.Stock/Get',
      condition: { method: 'POST', pathRegex: '/shop\\.inventory\\.v1\\.Stock/Get' },
      isRetryable: true,
    },
    { name: 'Reserve', condition: { method: 'POST', pathRegex: '/shop\\.inventory\\.v1\\.Stock/Reserve' } },
  ]);
});

test('no package: the path is /Service/Method', () => {
  assert.deepEqual(generate(fixture('no-package.proto')), [
    { name: 'SayHello', condition: { method: 'POST', pathRegex: '/Greeter/SayHello' } },
  ]);
});

test('a syntax error: the file and the line', () => {
  rejects(
    fixture('syntax-error.proto'),
    "syntax-error.proto: line 7: not a valid .proto file: illegal token 'rpc', ';' expected",
    'syntax-error.proto',
  );
  rejects('{"openapi": "3.0.1"}', "api.proto: line 1: not a valid .proto file: illegal token '{'");
});

test('no service, or services without an rpc', () => {
  rejects(
    fixture('no-service.proto'),
    'no-service.proto: defines no service (a profile from a .proto has a route per rpc of its services)',
    'no-service.proto',
  );
  rejects('', 'api.proto: defines no service (a profile from a .proto has a route per rpc of its services)');
  rejects('syntax = "proto3";\nservice Empty {}\n', 'api.proto: its services define no rpc');
});
