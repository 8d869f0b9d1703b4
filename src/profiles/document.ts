import { stringify } from 'yaml';
import { serviceProfileSpec } from '../catalog/profiles.js';
import { ProfileError } from './errors.js';

/** The API group and version `weft profile` writes; `weft apply` also takes Linkerd's. */
export const PROFILE_API_VERSION = 'weft.io/v1alpha2';

/** The Service a profile is for. */
export interface ProfileTarget {
  readonly name: string;
  readonly namespace: string;
  readonly clusterDomain: string;
}

/** A route as the generators make them: always a method and a path regex. */
export interface GeneratedRoute {
  readonly name: string;
  readonly condition: { readonly method: string; readonly pathRegex: string };
  readonly responseClasses?: ReadonlyArray<{
    readonly condition: { readonly status: { readonly min: number; readonly max: number } };
    readonly isFailure?: true;
  }>;
  readonly isRetryable?: true;
  readonly timeout?: string;
}

/** A profile's name: the fully qualified name of its Service. */
export function profileName(target: ProfileTarget): string {
  return `${target.name}.${target.namespace}.svc.${target.clusterDomain}`;
}

// The characters with a meaning in a regex. Nothing else is escaped: with the 'u' flag the
// proxy compiles path regexes with, an escape such as `\-` or `\:` is a syntax error.
const REGEX_SYNTAX = /[\\^$.*+?()[\]{}|]/g;

/** A regex that matches `literal` and nothing else. */
export function escapeRegex(literal: string): string {
  return literal.replace(REGEX_SYNTAX, '\\$&');
}

/** An OpenAPI path template (`/books/{id}`) as a path regex: each parameter matches one segment. */
export function pathToRegex(path: string): string {
  return path
    .split(/\{[^}]*\}/)
    .map(escapeRegex)
    .join('[^/]*');
}

/**
 * The ServiceProfile YAML for `routes`. The spec is checked by the same rules `weft apply`
 * uses, so a profile this prints is one weft accepts; `source` names the input if not.
 */
export function renderProfile(
  target: ProfileTarget,
  routes: readonly GeneratedRoute[],
  source: string,
): string {
  const spec = { routes };
  const checked = serviceProfileSpec.safeParse(spec);
  if (!checked.success) {
    const problems = checked.error.issues.map((issue) => {
      const field = ['spec', ...issue.path]
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .slice(1);
      const route = typeof issue.path[1] === 'number' ? routes[issue.path[1]] : undefined;
      return `${field}${route ? ` (route "${route.name}")` : ''}: ${issue.message}`;
    });
    throw new ProfileError(`${source}: the profile would not be valid: ${problems.join('; ')}`);
  }
  const profile = {
    apiVersion: PROFILE_API_VERSION,
    kind: 'ServiceProfile',
    metadata: { name: profileName(target), namespace: target.namespace },
    spec,
  };
  // Sequences unindented and no line folding: the style of kubectl and `linkerd profile`.
  return stringify(profile, { indentSeq: false, lineWidth: 0 });
}
