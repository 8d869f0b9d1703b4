// Where things live. Compiled code runs from dist/bench/, sources live in bench/.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Repository root (dist/bench/ -> ../..). */
export const repoRoot = resolve(here, '..', '..');

/** A compiled bench script, e.g. distBench('openloop.js'). */
export function distBench(file: string): string {
  return join(here, file);
}

export const echoProto = join(repoRoot, 'bench', 'echo.proto');
export const resultsDir = join(repoRoot, 'bench', 'results');
export const weftBin = join(repoRoot, 'bin', 'weft.js');
export const weftBuiltEntry = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
