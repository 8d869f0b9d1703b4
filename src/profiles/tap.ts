import { escapeRegex, type GeneratedRoute } from './document.js';

/** A request tap saw: its method and path (with any query string). */
export interface ObservedRequest {
  readonly method: string;
  readonly path: string;
}

// Segments that name one of many things (an id) rather than a place in the API.
const ID_SEGMENT = /^(\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,})$/i;

/** At most this many routes: a profile is a map of the API, not a log of every URL. */
export const MAX_TAP_ROUTES = 100;

/**
 * The routes of a profile made from observed requests, one per method and path, as
 * `linkerd viz profile --tap` does, with one difference: a path segment that is a
 * number, a UUID or a long hex string is taken for an id, so `/books/12` and
 * `/books/13` are one route, `GET /books/{id}`, matching any one segment there.
 */
export function tapRoutes(observed: Iterable<ObservedRequest>): GeneratedRoute[] {
  const routes = new Map<string, GeneratedRoute>();
  for (const { method, path } of observed) {
    const segments = (path.split('?')[0] ?? '/').split('/');
    const template = segments.map((s) => (ID_SEGMENT.test(s) ? '{id}' : s)).join('/');
    const name = `${method} ${template}`;
    if (routes.has(name)) continue;
    if (routes.size >= MAX_TAP_ROUTES) break;
    const pathRegex = segments.map((s) => (ID_SEGMENT.test(s) ? '[^/]*' : escapeRegex(s))).join('/');
    routes.set(name, { name, condition: { method, pathRegex } });
  }
  return [...routes.values()].sort((a, b) => a.name.localeCompare(b.name));
}
