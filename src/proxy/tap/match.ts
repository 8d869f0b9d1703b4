import type { TapLabelMessage, TapMatchMessage } from '../../grpc/protos.js';

/** What a tap's match tree sees of a request. */
export interface TapSubject {
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  /** The path without its query string. */
  readonly path: string;
  readonly sourceMeta: Readonly<Record<string, string>>;
  readonly destinationMeta: Readonly<Record<string, string>>;
  readonly routeMeta: Readonly<Record<string, string>>;
}

export type TapMatcher = (subject: TapSubject) => boolean;

/** Bounds on a match tree a client may send. */
export const MATCH_LIMITS = {
  /** Nodes in the whole tree. */
  nodes: 64,
  /** Nesting of all, any and not. */
  depth: 8,
  /** Characters of any one string (a label key or value, a method, an authority, a path). */
  text: 1024,
} as const;

/** A match tree that is refused (INVALID_ARGUMENT), saying why. */
export class MatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MatchError';
  }
}

const always: TapMatcher = () => true;

/**
 * Compiles an ObserveRequest's match tree into a predicate; unset (or a node with nothing
 * set) matches every request. Throws a MatchError for a tree beyond MATCH_LIMITS or with
 * an empty label key.
 */
export function compileMatch(m: TapMatchMessage | null | undefined): TapMatcher {
  const count = { nodes: 0 };
  return compile(m, 0, count);
}

function text(value: string | undefined, what: string): string {
  const v = value ?? '';
  if (v.length > MATCH_LIMITS.text) {
    throw new MatchError(`${what} is ${v.length} characters long (at most ${MATCH_LIMITS.text})`);
  }
  return v;
}

function label(l: TapLabelMessage | null | undefined, what: string): { key: string; value: string } {
  const key = text(l?.key, `${what} key`);
  if (key === '') throw new MatchError(`${what} has no key`);
  return { key, value: text(l?.value, `${what} value`) };
}

const KINDS = ['all', 'any', 'not', 'sourceLabel', 'destinationLabel', 'routeLabel', 'http'] as const;
const HTTP_KINDS = ['method', 'authority', 'pathPrefix', 'scheme'] as const;

/** Which field of the oneof is set: proto-loader names it; a plain object has just the one. */
function kindOf(m: TapMatchMessage): TapMatchMessage['match'] {
  return m.match ?? KINDS.find((k) => m[k] !== undefined && m[k] !== null);
}

function httpKindOf(h: NonNullable<TapMatchMessage['http']>): (typeof HTTP_KINDS)[number] | undefined {
  return h.match ?? HTTP_KINDS.find((k) => h[k] !== undefined);
}

function compile(m: TapMatchMessage | null | undefined, depth: number, count: { nodes: number }): TapMatcher {
  if (!m) return always;
  if (++count.nodes > MATCH_LIMITS.nodes) {
    throw new MatchError(`the match has more than ${MATCH_LIMITS.nodes} nodes`);
  }
  if (depth > MATCH_LIMITS.depth) {
    throw new MatchError(`the match is nested more than ${MATCH_LIMITS.depth} deep`);
  }
  switch (kindOf(m)) {
    case 'all': {
      const parts = (m.all?.matches ?? []).map((p) => compile(p, depth + 1, count));
      return (s) => parts.every((t) => t(s));
    }
    case 'any': {
      const parts = (m.any?.matches ?? []).map((p) => compile(p, depth + 1, count));
      return (s) => parts.some((t) => t(s));
    }
    case 'not': {
      const inner = compile(m.not, depth + 1, count);
      return (s) => !inner(s);
    }
    case 'sourceLabel': {
      const { key, value } = label(m.sourceLabel, 'source label');
      return (s) => s.sourceMeta[key] === value;
    }
    case 'destinationLabel': {
      const { key, value } = label(m.destinationLabel, 'destination label');
      return (s) => s.destinationMeta[key] === value;
    }
    case 'routeLabel': {
      const { key, value } = label(m.routeLabel, 'route label');
      return (s) => s.routeMeta[key] === value;
    }
    case 'http': {
      const h = m.http;
      if (!h) return always;
      switch (httpKindOf(h)) {
        case 'method': {
          const method = text(h.method, 'method');
          return (s) => s.method === method;
        }
        case 'authority': {
          // Host names are case-insensitive.
          const authority = text(h.authority, 'authority').toLowerCase();
          return (s) => s.authority.toLowerCase() === authority;
        }
        case 'pathPrefix': {
          const prefix = text(h.pathPrefix, 'path prefix');
          return (s) => s.path.startsWith(prefix);
        }
        case 'scheme': {
          const scheme = text(h.scheme, 'scheme').toLowerCase();
          return (s) => s.scheme === scheme;
        }
        default:
          return always;
      }
    }
    default:
      return always;
  }
}
