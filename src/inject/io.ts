import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InjectError } from './errors.js';

// The inputs of `weft inject` and `weft uninject`: files, directories (their .yaml, .yml and
// .json files, recursively, in name order) and `-` for stdin, which is also the default.

/** At most this much YAML is read from one file or stdin. */
const MAX_BYTES = 16 * 1024 * 1024;
const MANIFEST_FILE = /\.(ya?ml|json)$/i;

export interface Input {
  /** The path, or `stdin`. */
  readonly name: string;
  readonly text: string;
}

export function readInputs(paths: readonly string[], stdin: () => string = readStdin): Input[] {
  const inputs: Input[] = [];
  for (const path of paths.length > 0 ? paths : ['-']) {
    if (path === '-') {
      inputs.push({ name: 'stdin', text: stdin() });
      continue;
    }
    const files = filesOf(path, true);
    if (files.length === 0) throw new InjectError(`${path}: no .yaml, .yml or .json files in this directory`);
    for (const file of files) inputs.push({ name: file, text: readFile(file) });
  }
  return inputs;
}

function readStdin(): string {
  const text = readFileSync(0, 'utf8');
  if (text.length > MAX_BYTES) throw new InjectError(`stdin: larger than ${MAX_BYTES} bytes`);
  return text;
}

function readFile(path: string): string {
  try {
    if (statSync(path).size > MAX_BYTES) throw new InjectError(`${path}: larger than ${MAX_BYTES} bytes`);
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof InjectError) throw err;
    throw new InjectError(`${path}: ${(err as Error).message}`);
  }
}

function filesOf(path: string, top: boolean): string[] {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InjectError(
      `${path}: ${code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  if (!stat.isDirectory()) return top || MANIFEST_FILE.test(path) ? [path] : [];
  return readdirSync(path)
    .sort()
    .flatMap((name) => filesOf(join(path, name), false));
}

/** Joins the outputs of several inputs into one stream, a `---` between them. */
export function joinStreams(texts: readonly string[]): string {
  let out = '';
  for (const text of texts) {
    if (out !== '') {
      if (!out.endsWith('\n')) out += '\n';
      if (!/^---(\s|$)/.test(text)) out += '---\n';
    }
    out += text;
  }
  return out;
}
