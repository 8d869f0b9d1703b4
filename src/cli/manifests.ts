import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { SourcedDocument } from '../catalog/validate.js';

/** At most this much YAML is read from one file or stdin. */
const MAX_BYTES = 16 * 1024 * 1024;
const MANIFEST_FILE = /\.(ya?ml|json)$/i;
/** Aliases one document may expand (the yaml package's own bound): a billion laughs stops here. */
const MAX_ALIASES = 100;

/** Raised for input that cannot be read or parsed; names the file and line. */
export class ManifestError extends Error {}

function readSource(path: string): string {
  if (path === '-') {
    const text = readFileSync(0, 'utf8');
    if (text.length > MAX_BYTES) throw new ManifestError(`stdin: larger than ${MAX_BYTES} bytes`);
    return text;
  }
  const size = statSync(path).size;
  if (size > MAX_BYTES) throw new ManifestError(`${path}: larger than ${MAX_BYTES} bytes`);
  return readFileSync(path, 'utf8');
}

function filesOf(path: string, recursive: boolean, top = true): string[] {
  if (path === '-') return [path];
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ManifestError(
      `${path}: ${code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  if (!stat.isDirectory()) return top || MANIFEST_FILE.test(path) ? [path] : [];
  if (!top && !recursive) return [];
  return readdirSync(path)
    .sort()
    .flatMap((name) => filesOf(join(path, name), recursive, false));
}

/** Splits one YAML (or JSON) text into documents; a `kind: List` contributes its items. */
export function parseManifest(text: string, name: string): SourcedDocument[] {
  const docs: SourcedDocument[] = [];
  const parsed = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const all = Array.isArray(parsed) ? parsed : [parsed];
  all.forEach((doc, i) => {
    const source = all.length > 1 ? `${name}, document ${i + 1}` : name;
    const error = doc.errors[0];
    if (error) {
      const line = error.linePos?.[0];
      const where = line ? ` line ${line.line}, column ${line.col}` : '';
      const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw new ManifestError(`${source}:${where}: ${message}`);
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (err) {
      // The yaml package refuses aliases that expand past the bound with a ReferenceError.
      const message = (err as Error).message;
      const bomb = /alias count/i.test(message) ? `more than ${MAX_ALIASES} aliases (a YAML bomb?): ` : '';
      throw new ManifestError(`${source}: ${bomb}${message}`);
    }
    if (value === null || value === undefined) return; // an empty document, e.g. after a trailing ---
    const list = value as { kind?: unknown; items?: unknown };
    if (list.kind === 'List' && Array.isArray(list.items)) {
      list.items.forEach((item: unknown, j) => {
        docs.push({ source: `${source}, item ${j + 1}`, value: item });
      });
    } else {
      docs.push({ source, value });
    }
  });
  return docs;
}

/**
 * The local platform runs programs from this host's disk, so a Deployment's containers
 * run in the manifest's directory (stdin: the current one), and a relative `workingDir`
 * is taken from there, as Compose takes paths relative to its file. Only well-formed
 * parts are touched: the rest is left for validation to name.
 */
export function resolveWorkingDirs(value: unknown, baseDir: string): void {
  const doc = value as { kind?: unknown; spec?: { template?: { spec?: { containers?: unknown } } } } | null;
  if (doc?.kind !== 'Deployment') return;
  const containers = doc.spec?.template?.spec?.containers;
  if (!Array.isArray(containers)) return;
  for (const c of containers as Array<{ workingDir?: unknown } | null>) {
    if (typeof c !== 'object' || c === null) continue;
    if (c.workingDir === undefined) c.workingDir = baseDir;
    else if (typeof c.workingDir === 'string' && c.workingDir !== '' && !isAbsolute(c.workingDir))
      c.workingDir = resolve(baseDir, c.workingDir);
  }
}

/** Reads `-f` arguments: files, directories (their .yaml/.yml/.json files) or `-` for stdin. */
export function readManifests(paths: readonly string[], recursive: boolean): SourcedDocument[] {
  const docs: SourcedDocument[] = [];
  for (const path of paths) {
    for (const file of filesOf(path, recursive)) {
      let text: string;
      try {
        text = readSource(file);
      } catch (err) {
        if (err instanceof ManifestError) throw err;
        throw new ManifestError(`${file}: ${(err as Error).message}`);
      }
      const parsed = parseManifest(text, file === '-' ? 'stdin' : file);
      const baseDir = file === '-' ? process.cwd() : dirname(resolve(file));
      for (const d of parsed) resolveWorkingDirs(d.value, baseDir);
      docs.push(...parsed);
    }
  }
  if (docs.length === 0) throw new ManifestError(`no resources found in ${paths.join(', ')}`);
  return docs;
}
