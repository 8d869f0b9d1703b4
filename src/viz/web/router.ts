/**
 * Client-side routes on the History API: the server answers every path without an
 * extension with index.html, so each page has a real address that can be reloaded,
 * bookmarked and opened in a new tab.
 */
import { useEffect, useState } from 'preact/hooks';

export type Route =
  | { readonly page: 'overview' }
  | { readonly page: 'namespace'; readonly namespace: string }
  | { readonly page: 'workload'; readonly namespace: string; readonly name: string }
  | { readonly page: 'tap'; readonly query: URLSearchParams }
  | { readonly page: 'not-found'; readonly path: string };

const seg = (s: string): string => encodeURIComponent(s);

export const paths = {
  overview: (): string => '/',
  namespace: (ns: string): string => `/namespaces/${seg(ns)}`,
  workload: (ns: string, name: string): string => `/namespaces/${seg(ns)}/deployments/${seg(name)}`,
  tap: (query?: Record<string, string>): string => {
    const q = new URLSearchParams(query ?? {});
    const text = q.toString();
    return text === '' ? '/tap' : `/tap?${text}`;
  },
};

export function parseRoute(pathname: string, search: string): Route {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map((p) => decodeURIComponent(p));
  if (parts.length === 0) return { page: 'overview' };
  if (parts[0] === 'tap' && parts.length === 1) return { page: 'tap', query: new URLSearchParams(search) };
  if (parts[0] === 'namespaces' && parts.length === 2)
    return { page: 'namespace', namespace: parts[1] as string };
  if (parts[0] === 'namespaces' && parts[2] === 'deployments' && parts.length === 4) {
    return { page: 'workload', namespace: parts[1] as string, name: parts[3] as string };
  }
  return { page: 'not-found', path: pathname };
}

const listeners = new Set<() => void>();

export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  for (const l of listeners) l();
  if (!replace) window.scrollTo(0, 0);
}

/** Same-origin links navigate without a reload (unless a modifier key asks for a new tab). */
function onClick(e: MouseEvent): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element | null)?.closest?.('a');
  if (!a) return;
  if (a.target !== '' || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
}

/** The current route, re-rendered on navigation (links, back and forward). */
export function useRoute(): Route {
  const read = (): Route => parseRoute(location.pathname, location.search);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = (): void => setRoute(read());
    listeners.add(update);
    window.addEventListener('popstate', update);
    document.addEventListener('click', onClick);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
      document.removeEventListener('click', onClick);
    };
  }, []);
  return route;
}
