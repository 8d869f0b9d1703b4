// Writes the run's JSON to bench/results/<ISO date>.json (or a chosen path).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { resultsDir } from './paths.js';
import type { BenchReport } from './types.js';

/** `2026-11-22T10:11:12.345Z` -> `2026-11-22T10-11-12Z` (no colons, safe in any file system). */
export function resultFileName(isoDate: string): string {
  return `${isoDate.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}.json`;
}

export function writeReport(report: BenchReport, outFile?: string): string {
  const file = outFile ?? join(resultsDir, resultFileName(report.date));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
