import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { renderProfile } from '../../src/profiles/document.js';
import { ProfileError } from '../../src/profiles/errors.js';
import { openApiRoutes } from '../../src/profiles/openapi.js';
import { REPO_ROOT } from '../helpers/proxy.js';
import { checkProfile, proxyRegex } from './check.js';

const TARGET = { name: 'svc', namespace: 'ns', clusterDomain: 'cluster.local' };
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');
const fixture = (name: string): string => read(`test/profiles/fixtures/${name}`);

/** The routes' names, methods and regexes, and the routes as weft apply would take them. */
function generate(text: string, source = 'api.yaml') {
  const routes = openApiRoutes(text, source);
  checkProfile(renderProfile(TARGET, routes, source));
  return routes;
}

function rejects(text: string, message: string, source = 'api.yaml'): void {
  assert.throws(
    () => openApiRoutes(text, source),
    (err: unknown) => err instanceof ProfileError && err.message === message,
    `expected: ${message}`,
  );
}

const openapi = (paths: unknown, extra: Record<string, unknown> = {}): string =>
  stringify({ openapi: '3.0.3', info: { title: 't', version: '1' }, ...extra, paths });

test('emojivoto.swagger: GET /api/list and GET /api/vote, as the Linkerd guide shows', () => {
  const routes = generate(read('examples/emojivoto/emojivoto.swagger'));
  assert.deepEqual(
    routes.map((r) => [r.name, r.condition.method, r.condition.pathRegex]),
    [
      ['GET /api/list', 'GET', '/api/list'],
      ['GET /api/vote', 'GET', '/api/vote'],
    ],
  );
  // The 500 a vote for :doughnut: gets is a failure; the 400 of a bad choice is not.
  assert.deepEqual(routes[1]?.responseClasses, [
    { condition: { status: { min: 200, max: 200 } } },
    { condition: { status: { min: 400, max: 400 } } },
    { condition: { status: { min: 500, max: 500 } }, isFailure: true },
  ]);
});

test('Swagger 2: basePath prefixed, routes in document order, Linkerd extensions, responses by code', () => {
  const routes = generate(fixture('petstore.swagger2.json'), 'petstore.json');
  assert.deepEqual(
    routes.map((r) => r.name),
    [
      'POST /v2/pets',
      'GET /v2/pets',
      'GET /v2/pets/{petId}',
      'DELETE /v2/pets/{petId}',
      'HEAD /v2/pets/{petId}/photos/{photoId}.jpg',
    ],
  );
  const [post, list, get, del, head] = routes;
  assert.deepEqual(post, {
    name: 'POST /v2/pets',
    condition: { method: 'POST', pathRegex: '/v2/pets' },
    responseClasses: [{ condition: { status: { min: 201, max: 201 } } }],
    timeout: '2s',
  });
  assert.equal(list?.isRetryable, true);
  assert.equal(list?.timeout, '250ms');
  assert.deepEqual(
    list?.responseClasses?.map((c) => [c.condition.status.min, c.isFailure ?? false]),
    [
      [200, false],
      [503, true],
    ],
  );
  assert.equal(get?.condition.pathRegex, '/v2/pets/[^/]*');
  assert.ok(!('isRetryable' in (del ?? {})), 'x-linkerd-retryable: false leaves it out');
  assert.ok(!('responseClasses' in (del ?? {})), 'no status codes, no classes');
  assert.equal(head?.condition.pathRegex, '/v2/pets/[^/]*/photos/[^/]*\\.jpg');
});

test('Swagger 2: a basePath of / adds nothing; none at all neither', () => {
  for (const basePath of ['/', undefined]) {
    const doc = { swagger: '2.0', ...(basePath ? { basePath } : {}), paths: { '/a': { get: {} } } };
    assert.equal(generate(JSON.stringify(doc))[0]?.name, 'GET /a');
  }
});

test('OpenAPI 3: trace, non-method fields and $ref items skipped, servers not prefixed, literal paths escaped', () => {
  const routes = generate(fixture('bookstore.openapi3.yaml'));
  assert.deepEqual(
    routes.map((r) => [r.name, r.condition.pathRegex]),
    [
      ['PUT /books/{isbn}/reviews', '/books/[^/]*/reviews'],
      ['GET /books/{isbn}/reviews', '/books/[^/]*/reviews'],
      ['TRACE /books/{isbn}/reviews', '/books/[^/]*/reviews'],
      ['GET /search+find(v1).json', '/search\\+find\\(v1\\)\\.json'],
      ['OPTIONS /files/{dir}/*', '/files/[^/]*/\\*'],
      ['PATCH /v1/{name}/items:batch-get', '/v1/[^/]*/items:batch-get'],
    ],
  );
  const search = proxyRegex(routes[3]?.condition.pathRegex ?? '');
  assert.ok(search.test('/search+find(v1).json'));
  assert.ok(!search.test('/searchhfindv1.json'));
  // 5XX is a range, which Linkerd does not turn into a class either.
  assert.deepEqual(routes[0]?.responseClasses, [{ condition: { status: { min: 200, max: 200 } } }]);
  assert.deepEqual(
    routes[5]?.responseClasses?.map((c) => [c.condition.status.min, c.isFailure ?? false]),
    [
      [100, false],
      [599, true],
    ],
  );
});

test('JSON and YAML give the same routes; unquoted versions (numbers in YAML) are read', () => {
  const paths = { '/a/{x}': { get: { responses: { '500': {} } } } };
  const json = JSON.stringify({ openapi: '3.0.0', paths }, null, '\t');
  const expected = generate(json);
  assert.deepEqual(generate(openapi(paths)), expected);
  assert.deepEqual(generate(`openapi: 3.0\npaths:\n  /a/{x}:\n    get: {responses: {500: {}}}\n`), expected);
  assert.deepEqual(generate(`swagger: 2.0\npaths:\n  /a/{x}:\n    get: {responses: {500: {}}}\n`), expected);
});

test('paths: {} gives a profile without routes', () => {
  assert.deepEqual(generate(openapi({})), []);
});

test('not YAML or JSON: the file and the line', () => {
  rejects(
    fixture('broken.yaml'),
    'broken.yaml: line 7, column 3: not valid YAML or JSON: Flow map in block collection must be sufficiently indented and end with a }',
    'broken.yaml',
  );
  rejects(
    '{\n  "openapi": "3.0.1",\n  "paths": {\n    "/a": {"get": {}},\n',
    'api.json: line 5, column 1: not valid YAML or JSON: Flow map in block collection must be sufficiently indented and end with a }',
    'api.json',
  );
  rejects(
    'openapi: 3.0.1\npaths: {}\nopenapi: 3.0.2\n',
    'api.yaml: line 3, column 1: not valid YAML or JSON: Map keys must be unique',
  );
  rejects('openapi: 3.0.1\npaths: {}\n---\nopenapi: 3.0.1\n', 'api.yaml: holds 2 YAML documents, not one');
});

test('not OpenAPI 3 or Swagger 2', () => {
  rejects(
    fixture('not-openapi.yaml'),
    'not-openapi.yaml: not an OpenAPI 3 or Swagger 2 document: it has no "openapi: 3.x" or "swagger: \\"2.0\\"" field',
    'not-openapi.yaml',
  );
  rejects('', 'api.yaml: not an OpenAPI 3 or Swagger 2 document: expected a mapping, got nothing');
  rejects('- /a\n', 'api.yaml: not an OpenAPI 3 or Swagger 2 document: expected a mapping, got a list');
  rejects('openapi: "2.0"\npaths: {}\n', 'api.yaml: openapi: "2.0" is not a version this reads (3.x)');
  rejects('swagger: "1.2"\npaths: {}\n', 'api.yaml: swagger: "1.2" is not a version this reads ("2.0")');
});

test('paths missing or not a mapping', () => {
  rejects(
    fixture('swagger-no-paths.yaml'),
    'no-paths.yaml: no "paths": the document lists no operations',
    'no-paths.yaml',
  );
  rejects(fixture('paths-list.yaml'), 'api.yaml: paths: expected a mapping of paths, got a list');
  rejects(openapi('/api'), 'api.yaml: paths: expected a mapping of paths, got the string "/api"');
});

test('a field of a path item that is neither an operation nor a path item field', () => {
  rejects(
    fixture('bad-method.yaml'),
    'api.yaml: paths["/api/list"]: "fetch" is not an HTTP method (operations are get, put, post, delete, options, head, patch, trace)',
  );
  rejects(
    openapi({ '/a': { GET: {} } }),
    'api.yaml: paths["/a"]: "GET" is not an HTTP method (operations are lowercase: "get")',
  );
  // Extensions are allowed anywhere.
  assert.equal(generate(openapi({ '/a': { 'x-rate': 5, get: {} } })).length, 1);
});

test('paths, path items, operations and responses of the wrong shape', () => {
  rejects(openapi({ 'api/list': { get: {} } }), 'api.yaml: paths: "api/list" does not start with "/"');
  rejects(openapi({ '/a': null }), 'api.yaml: paths["/a"]: expected a path item (a mapping), got nothing');
  rejects(
    openapi({ '/a': { get: [] } }),
    'api.yaml: paths["/a"].get: expected an operation (a mapping), got a list',
  );
  rejects(
    openapi({ '/a': { get: { responses: ['200'] } } }),
    'api.yaml: paths["/a"].get.responses: expected a mapping of status codes, got a list',
  );
  rejects(
    openapi({ '/a': { get: { responses: { '200': {}, '600': {} } } } }),
    'api.yaml: paths["/a"].get.responses: "600" is not an HTTP status code',
  );
  rejects(
    openapi({ '/a': { get: { responses: { ok: {} } } } }),
    'api.yaml: paths["/a"].get.responses: "ok" is not an HTTP status code',
  );
  rejects(
    stringify({ swagger: '2.0', basePath: 'v1', paths: {} }),
    'api.yaml: basePath: expected a path starting with "/", got the string "v1"',
  );
});

test('x-linkerd-retryable and x-linkerd-timeout of the wrong type or value', () => {
  rejects(
    openapi({ '/a': { post: { 'x-linkerd-retryable': 'yes' } } }),
    'api.yaml: paths["/a"].post: x-linkerd-retryable: expected true or false, got the string "yes"',
  );
  rejects(
    openapi({ '/a': { post: { 'x-linkerd-timeout': 5 } } }),
    'api.yaml: paths["/a"].post: x-linkerd-timeout: expected a duration such as 500ms, got the number 5',
  );
  rejects(
    openapi({ '/a': { post: { 'x-linkerd-timeout': 'soon' } } }),
    'api.yaml: paths["/a"].post: x-linkerd-timeout: "soon" is not a duration (use e.g. 100ms, 1s, 2m)',
  );
  rejects(
    openapi({ '/a': { post: { 'x-linkerd-timeout': '0s' } } }),
    'api.yaml: paths["/a"].post: x-linkerd-timeout: "0s" must be above zero',
  );
});
