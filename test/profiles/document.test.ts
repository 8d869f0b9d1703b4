import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  escapeRegex,
  type GeneratedRoute,
  pathToRegex,
  profileName,
  renderProfile,
} from '../../src/profiles/document.js';
import { ProfileError } from '../../src/profiles/errors.js';
import { checkProfile, proxyRegex } from './check.js';

const TARGET = { name: 'web-svc', namespace: 'emojivoto', clusterDomain: 'cluster.local' };

test('escapeRegex: every printable ASCII character, compiled as the proxy does, matches itself only', () => {
  for (let code = 0x20; code < 0x7f; code++) {
    const c = String.fromCharCode(code);
    const literal = `/a${c}b/${c}${c}`;
    const re = proxyRegex(escapeRegex(literal));
    assert.ok(re.test(literal), `${JSON.stringify(c)}: ${re}`);
    if (c !== 'x') assert.ok(!re.test(literal.replaceAll(c, 'x')), `${JSON.stringify(c)} matched x: ${re}`);
  }
});

test('escapeRegex escapes regex syntax and nothing else (a \\- or \\/ is an error with the u flag)', () => {
  assert.equal(
    escapeRegex('/emojivoto.v1.VotingService/VoteDoughnut'),
    '/emojivoto\\.v1\\.VotingService/VoteDoughnut',
  );
  assert.equal(escapeRegex('^a$|b*c+d?(e)[f]{g}\\'), '\\^a\\$\\|b\\*c\\+d\\?\\(e\\)\\[f\\]\\{g\\}\\\\');
  assert.equal(escapeRegex('/a-b/c:d/é'), '/a-b/c:d/é');
});

test('pathToRegex: a parameter is one path segment, as Linkerd writes it', () => {
  assert.equal(pathToRegex('/authors/{id}'), '/authors/[^/]*');
  assert.equal(pathToRegex('/api/list'), '/api/list');
  const photo = pathToRegex('/pets/{petId}/photos/{photoId}.jpg');
  assert.equal(photo, '/pets/[^/]*/photos/[^/]*\\.jpg');
  const re = proxyRegex(photo);
  assert.ok(re.test('/pets/7/photos/front.jpg'));
  assert.ok(re.test('/pets/{petId}/photos/{photoId}.jpg'));
  assert.ok(!re.test('/pets/7/photos/frontXjpg'), 'the dot is literal');
  assert.ok(!re.test('/pets/7/8/photos/front.jpg'), 'a parameter does not cross a /');
  assert.ok(!re.test('/pets/7/photos/front.jpg/x'), 'the whole path must match');
});

test('pathToRegex: an empty parameter is one too; an unclosed brace is literal text', () => {
  assert.equal(pathToRegex('/a/{}/b'), '/a/[^/]*/b');
  assert.equal(pathToRegex('/a/{id'), '/a/\\{id');
  assert.ok(proxyRegex(pathToRegex('/a/{id')).test('/a/{id'));
  assert.equal(pathToRegex('/{a}{b}'), '/[^/]*[^/]*');
});

test('profileName is the fully qualified name of the Service, in the given cluster domain', () => {
  assert.equal(profileName(TARGET), 'web-svc.emojivoto.svc.cluster.local');
  assert.equal(profileName({ ...TARGET, clusterDomain: 'example.org' }), 'web-svc.emojivoto.svc.example.org');
});

test('renderProfile: the profile document, in kubectl style, that weft apply accepts', () => {
  const routes: GeneratedRoute[] = [
    {
      name: 'GET /api/vote',
      condition: { method: 'GET', pathRegex: '/api/vote' },
      responseClasses: [{ condition: { status: { min: 500, max: 500 } }, isFailure: true }],
      isRetryable: true,
      timeout: '300ms',
    },
  ];
  const text = renderProfile(TARGET, routes, 'web.swagger');
  assert.equal(
    text,
    `apiVersion: weft.io/v1alpha2
kind: ServiceProfile
metadata:
  name: web-svc.emojivoto.svc.cluster.local
  namespace: emojivoto
spec:
  routes:
  - name: GET /api/vote
    condition:
      method: GET
      pathRegex: /api/vote
    responseClasses:
    - condition:
        status:
          min: 500
          max: 500
      isFailure: true
    isRetryable: true
    timeout: 300ms
`,
  );
  assert.deepEqual(checkProfile(text).spec.routes, routes);
});

test('renderProfile: no routes is still a profile', () => {
  const doc = checkProfile(renderProfile(TARGET, [], 'x'));
  assert.deepEqual(doc.spec, { routes: [] });
});

test('renderProfile refuses what weft apply would refuse, naming the input, field and route', () => {
  const route = { name: 'GET /a', condition: { method: 'GET', pathRegex: '/a' } };
  assert.throws(
    () =>
      renderProfile(
        TARGET,
        [route, { ...route, condition: { method: 'GET', pathRegex: '/b(' } }],
        'api.yaml',
      ),
    (err: unknown) => {
      assert.ok(err instanceof ProfileError);
      assert.match(err.message, /^api\.yaml: the profile would not be valid: /);
      assert.match(
        err.message,
        /spec\.routes\[1\]\.name \(route "GET \/a"\): duplicate route name "GET \/a"/,
      );
      assert.match(
        err.message,
        /spec\.routes\[1\]\.condition\.pathRegex \(route "GET \/a"\): not a valid regular expression/,
      );
      return true;
    },
  );
});
