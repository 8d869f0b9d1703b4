import { formatHostPort, type HostPort, parseHostPort } from '../../util/addr.js';
import { ProxyError } from '../errors.js';
import type { Exchange, HttpLayer } from '../http/exchange.js';

export interface Route {
  /** The authority label, as the request named it. */
  readonly authority: string;
  readonly target: HostPort;
  /** The path to send upstream, in origin-form. */
  readonly path: string;
}

/**
 * Decides where a request goes from the authority and path it carries, and in transparent
 * mode from where its connection was going before it was redirected.
 */
export interface Router {
  route(authority: string | undefined, path: string, originalDst?: HostPort): Route | ProxyError;
}

/** Inbound: everything goes to the local application. */
export function fixedRouter(target: HostPort): Router {
  const fallback = formatHostPort(target);
  return {
    route: (authority, path) => ({ authority: authority ?? fallback, target, path }),
  };
}

const LOOPBACK = '127.0.0.1';

/**
 * Inbound, transparent mode: to the port the client dialled, on the pod's own loopback;
 * connections that were not redirected go to `fallback`.
 */
export function loopbackRouter(fallback: HostPort): Router {
  const byPort = new Map<number, HostPort>();
  const fallbackText = formatHostPort(fallback);
  return {
    route: (authority, path, originalDst) => {
      if (!originalDst) return { authority: authority ?? fallbackText, target: fallback, path };
      let target = byPort.get(originalDst.port);
      if (!target) {
        target = { host: LOOPBACK, port: originalDst.port };
        byPort.set(originalDst.port, target);
      }
      return { authority: authority ?? formatHostPort(originalDst), target, path };
    },
  };
}

/**
 * Outbound, transparent mode: the application dialled an address and the request names an
 * authority. The authority is the request's (what discovery resolves and the metrics
 * name); without discovery's answer it goes where the application was going.
 */
export function originalDstRouter(): Router {
  const explicit = authorityRouter();
  return {
    route(authority, path, originalDst) {
      if (!originalDst) return explicit.route(authority, path);
      return { authority: authority || formatHostPort(originalDst), target: originalDst, path };
    },
  };
}

const MAX_CACHED_AUTHORITIES = 10_000;

/**
 * Outbound, explicit mode: the target is the request's authority (an absolute-form URI's,
 * else the Host header or :authority), resolved by DNS when connecting.
 */
export function authorityRouter(): Router {
  const cache = new Map<string, HostPort | ProxyError>();
  const parse = (authority: string): HostPort | ProxyError => {
    let parsed = cache.get(authority);
    if (parsed === undefined) {
      try {
        parsed = parseHostPort(authority, 'authority', 80);
      } catch {
        parsed = new ProxyError(400, `invalid authority "${authority.slice(0, 100)}"`);
      }
      if (cache.size >= MAX_CACHED_AUTHORITIES) cache.clear();
      cache.set(authority, parsed);
    }
    return parsed;
  };
  return {
    route(authority, path) {
      if (authority === undefined || authority === '') {
        return new ProxyError(400, 'request names no authority (no Host header or absolute URI)');
      }
      const target = parse(authority);
      if (target instanceof ProxyError) return target;
      return { authority, target, path };
    },
  };
}

/**
 * An absolute-form request target (`http://host/path`) as the authority it names and the
 * origin-form path sent upstream; a ProxyError for any other target that is not
 * origin-form (`/path`) or `*`.
 */
export function absoluteForm(path: string): { authority: string; path: string } | ProxyError {
  const absolute = /^http:\/\/([^/?#@]+)([/?].*)?$/i.exec(path);
  if (!absolute) {
    return new ProxyError(400, 'only http:// absolute URIs can be proxied (use CONNECT for TLS)');
  }
  const rest = absolute[2] ?? '';
  return {
    authority: absolute[1] as string,
    path: rest === '' ? '/' : rest.charCodeAt(0) === 47 ? rest : `/${rest}`,
  };
}

/**
 * The route layer: sets the exchange's authority, target and upstream path. An
 * absolute-form target is sent on in origin-form, with the Host it names (RFC 9112
 * section 3.2.2), in either direction. A request inside a CONNECT tunnel goes to the
 * tunnel's authority, and its Host header stays as the client wrote it.
 */
export function routeLayer<E extends Exchange>(router: Router): HttpLayer<E> {
  return (next) => (ex) => {
    let requestAuthority = ex.requestAuthority;
    const tunnel = ex.tunnelAuthority;
    if (ex.path.charCodeAt(0) !== 47 /* '/' */ && ex.path !== '*') {
      const absolute = absoluteForm(ex.path);
      if (absolute instanceof ProxyError) {
        ex.authority = tunnel ?? requestAuthority ?? '';
        ex.fail(absolute);
        return;
      }
      ex.path = absolute.path;
      if (absolute.authority !== requestAuthority) {
        ex.setRequestAuthority(absolute.authority);
        requestAuthority = absolute.authority;
      }
    }
    const route =
      tunnel === undefined
        ? router.route(requestAuthority, ex.path, ex.originalDst)
        : router.route(tunnel, ex.path);
    if (route instanceof ProxyError) {
      ex.authority = tunnel ?? requestAuthority ?? '';
      ex.fail(route);
      return;
    }
    if (tunnel === undefined && route.authority !== requestAuthority) ex.setRequestAuthority(route.authority);
    ex.authority = route.authority;
    ex.target = route.target;
    ex.path = route.path;
    next(ex);
  };
}
