import { parseAllDocuments } from 'yaml';
import { parseDuration } from '../util/duration.js';
import { type GeneratedRoute, pathToRegex } from './document.js';
import { ProfileError } from './errors.js';

// One route per operation of an OpenAPI 3.x or Swagger 2.0 document, as `linkerd profile
// --open-api` makes them: named `METHOD /path`, a response class per status code the
// operation lists (5xx ones failures), and Linkerd's x-linkerd-retryable and
// x-linkerd-timeout operation extensions. Unlike Linkerd, routes keep the document's order.

const OPERATIONS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** The fields of a path item that are not operations. */
const PATH_ITEM_FIELDS = new Set(['parameters', 'summary', 'description', 'servers', '$ref']);
const RETRYABLE_EXTENSION = 'x-linkerd-retryable';
const TIMEOUT_EXTENSION = 'x-linkerd-timeout';

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string "${value}"`;
  return `${typeof value === 'object' ? 'an object' : `the ${typeof value}`} ${JSON.stringify(value)}`;
}

/** One YAML or JSON document (JSON is YAML); a syntax error names its line. */
function parseSpecText(text: string, source: string): unknown {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const all = Array.isArray(docs) ? docs : [docs];
  for (const doc of all) {
    const error = doc.errors[0];
    if (error) {
      const line = error.linePos?.[0];
      const where = line ? ` line ${line.line}, column ${line.col}:` : '';
      const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw new ProfileError(`${source}:${where} not valid YAML or JSON: ${message}`);
    }
  }
  if (all.length > 1) throw new ProfileError(`${source}: holds ${all.length} YAML documents, not one`);
  return all[0]?.toJS({ maxAliasCount: 100 });
}

interface ApiDocument {
  /** Swagger 2's basePath, without a trailing slash; '' for OpenAPI 3. */
  readonly basePath: string;
  readonly paths: Mapping;
}

function readApiDocument(value: unknown, source: string): ApiDocument {
  const notApi = `${source}: not an OpenAPI 3 or Swagger 2 document`;
  if (!isMapping(value)) throw new ProfileError(`${notApi}: expected a mapping, got ${describe(value)}`);
  let basePath = '';
  if (value.openapi !== undefined) {
    // An unquoted `openapi: 3.0` is the number 3 in YAML.
    if (!/^3(\.\d+){0,2}$/.test(String(value.openapi))) {
      throw new ProfileError(
        `${source}: openapi: "${String(value.openapi)}" is not a version this reads (3.x)`,
      );
    }
  } else if (value.swagger !== undefined) {
    if (String(value.swagger) !== '2.0' && value.swagger !== 2) {
      throw new ProfileError(
        `${source}: swagger: "${String(value.swagger)}" is not a version this reads ("2.0")`,
      );
    }
    if (value.basePath !== undefined) {
      if (typeof value.basePath !== 'string' || !value.basePath.startsWith('/')) {
        throw new ProfileError(
          `${source}: basePath: expected a path starting with "/", got ${describe(value.basePath)}`,
        );
      }
      basePath = value.basePath.replace(/\/+$/, '');
    }
  } else {
    throw new ProfileError(`${notApi}: it has no "openapi: 3.x" or "swagger: \\"2.0\\"" field`);
  }
  if (value.paths === undefined) {
    throw new ProfileError(`${source}: no "paths": the document lists no operations`);
  }
  if (!isMapping(value.paths)) {
    throw new ProfileError(`${source}: paths: expected a mapping of paths, got ${describe(value.paths)}`);
  }
  return { basePath, paths: value.paths };
}

function responseClasses(responses: unknown, where: string): NonNullable<GeneratedRoute['responseClasses']> {
  if (responses === undefined) return [];
  if (!isMapping(responses)) {
    throw new ProfileError(
      `${where}.responses: expected a mapping of status codes, got ${describe(responses)}`,
    );
  }
  const statuses: number[] = [];
  for (const key of Object.keys(responses)) {
    // As in Linkerd, only exact codes make classes: not `default` or ranges such as 5XX.
    if (key === 'default' || /^[1-5]XX$/i.test(key) || key.startsWith('x-')) continue;
    const status = Number(key);
    if (!/^\d{3}$/.test(key) || status < 100 || status > 599) {
      throw new ProfileError(`${where}.responses: "${key}" is not an HTTP status code`);
    }
    statuses.push(status);
  }
  return statuses
    .sort((a, b) => a - b)
    .map((status) => ({
      condition: { status: { min: status, max: status } },
      ...(status >= 500 ? { isFailure: true as const } : {}),
    }));
}

function operationRoute(path: string, method: string, operation: unknown, where: string): GeneratedRoute {
  if (!isMapping(operation)) {
    throw new ProfileError(`${where}: expected an operation (a mapping), got ${describe(operation)}`);
  }
  const retryable = operation[RETRYABLE_EXTENSION];
  if (retryable !== undefined && typeof retryable !== 'boolean') {
    throw new ProfileError(
      `${where}: ${RETRYABLE_EXTENSION}: expected true or false, got ${describe(retryable)}`,
    );
  }
  const timeout = operation[TIMEOUT_EXTENSION];
  if (timeout !== undefined) {
    if (typeof timeout !== 'string') {
      throw new ProfileError(
        `${where}: ${TIMEOUT_EXTENSION}: expected a duration such as 500ms, got ${describe(timeout)}`,
      );
    }
    let ms: number;
    try {
      ms = parseDuration(timeout, TIMEOUT_EXTENSION);
    } catch (err) {
      throw new ProfileError(`${where}: ${(err as Error).message}`);
    }
    if (ms <= 0) throw new ProfileError(`${where}: ${TIMEOUT_EXTENSION}: "${timeout}" must be above zero`);
  }
  const classes = responseClasses(operation.responses, where);
  const upper = method.toUpperCase();
  return {
    name: `${upper} ${path}`,
    condition: { method: upper, pathRegex: pathToRegex(path) },
    ...(classes.length > 0 ? { responseClasses: classes } : {}),
    ...(retryable === true ? { isRetryable: true as const } : {}),
    ...(timeout !== undefined ? { timeout: timeout as string } : {}),
  };
}

/** The routes of an OpenAPI 3.x or Swagger 2.0 document (YAML or JSON), in its order. */
export function openApiRoutes(text: string, source: string): GeneratedRoute[] {
  const { basePath, paths } = readApiDocument(parseSpecText(text, source), source);
  const routes: GeneratedRoute[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (path.startsWith('x-')) continue;
    if (!path.startsWith('/')) throw new ProfileError(`${source}: paths: "${path}" does not start with "/"`);
    const at = `${source}: paths["${path}"]`;
    if (!isMapping(item))
      throw new ProfileError(`${at}: expected a path item (a mapping), got ${describe(item)}`);
    for (const [field, operation] of Object.entries(item)) {
      if (OPERATIONS.includes(field)) {
        routes.push(operationRoute(basePath + path, field, operation, `${at}.${field}`));
      } else if (!PATH_ITEM_FIELDS.has(field) && !field.startsWith('x-')) {
        const lower = field.toLowerCase();
        const hint = OPERATIONS.includes(lower)
          ? `operations are lowercase: "${lower}"`
          : `operations are ${OPERATIONS.join(', ')}`;
        throw new ProfileError(`${at}: "${field}" is not an HTTP method (${hint})`);
      }
    }
  }
  return routes;
}
