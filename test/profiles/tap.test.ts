import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TAP_ROUTES, tapRoutes } from '../../src/profiles/tap.js';

test('one route per method and path; ids become one segment; query strings are not part of the path', () => {
  const routes = tapRoutes([
    { method: 'GET', path: '/books/12' },
    { method: 'GET', path: '/books/13?x=1' },
    { method: 'GET', path: '/books/0f8fad5b-d9cb-469f-a165-70867728950e/reviews' },
    { method: 'POST', path: '/books' },
    { method: 'GET', path: '/api/v1.list' },
    { method: 'POST', path: '/books' },
  ]);
  assert.deepEqual(routes, [
    { name: 'GET /api/v1.list', condition: { method: 'GET', pathRegex: '/api/v1\\.list' } },
    { name: 'GET /books/{id}', condition: { method: 'GET', pathRegex: '/books/[^/]*' } },
    { name: 'GET /books/{id}/reviews', condition: { method: 'GET', pathRegex: '/books/[^/]*/reviews' } },
    { name: 'POST /books', condition: { method: 'POST', pathRegex: '/books' } },
  ]);
  const many = tapRoutes(Array.from({ length: 500 }, (_, i) => ({ method: 'GET', path: `/p${i}` })));
  assert.equal(many.length, MAX_TAP_ROUTES);
});
