import { readFileSync, statSync } from 'node:fs';
import { ProfileError } from './errors.js';

/** At most this much is read from one spec file or stdin. */
const MAX_BYTES = 16 * 1024 * 1024;

/** A spec file's text, and the name errors give it: the path, or `stdin` for `-`. */
export interface SpecSource {
  readonly name: string;
  readonly text: string;
}

export function readSpecSource(
  path: string,
  readStdin: () => string = () => readFileSync(0, 'utf8'),
): SpecSource {
  if (path === '-') {
    const text = readStdin();
    if (text.length > MAX_BYTES) throw new ProfileError(`stdin: larger than ${MAX_BYTES} bytes`);
    return { name: 'stdin', text };
  }
  try {
    const stat = statSync(path);
    if (stat.isDirectory()) throw new ProfileError(`${path}: is a directory, not a file`);
    if (stat.size > MAX_BYTES) throw new ProfileError(`${path}: larger than ${MAX_BYTES} bytes`);
    return { name: path, text: readFileSync(path, 'utf8') };
  } catch (err) {
    if (err instanceof ProfileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ProfileError(`${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}
