/** How viz's numbers read in tables, the CLI's and the dashboard's alike (Linkerd's formats). */
import type { GoldenMetrics } from './golden.js';
import type { Meshed } from './inventory.js';

export const DASH = '-';

export function formatSuccess(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? DASH : `${(rate * 100).toFixed(2)}%`;
}

export function formatRps(rps: number | null | undefined): string {
  if (rps === null || rps === undefined) return DASH;
  return `${rps < 10 ? rps.toFixed(1) : Math.round(rps)}rps`;
}

export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return DASH;
  return ms < 10 ? `${Number(ms.toFixed(1))}ms` : `${Math.round(ms)}ms`;
}

export function formatMeshed(m: Meshed | null | undefined): string {
  return m ? `${m.meshed}/${m.total}` : DASH;
}

export function formatBytesRate(bps: number | null | undefined): string {
  if (bps === null || bps === undefined) return DASH;
  if (bps < 1024) return `${bps.toFixed(1)}B/s`;
  if (bps < 1024 * 1024) return `${(bps / 1024).toFixed(1)}KiB/s`;
  return `${(bps / 1024 / 1024).toFixed(1)}MiB/s`;
}

/** SUCCESS, RPS, LATENCY_P50, LATENCY_P95, LATENCY_P99 cells. */
export function goldenCells(g: GoldenMetrics | null): string[] {
  if (!g) return [DASH, DASH, DASH, DASH, DASH];
  return [
    formatSuccess(g.successRate),
    formatRps(g.rps),
    formatLatency(g.latencyMs.p50),
    formatLatency(g.latencyMs.p95),
    formatLatency(g.latencyMs.p99),
  ];
}

/** A duration in microseconds, as tap prints it: 1234µs. */
export function formatMicros(ms: number): string {
  return `${Math.round(ms * 1000)}µs`;
}
