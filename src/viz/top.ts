import { isFailure } from '../metrics/http.js';
import { formatLatency, formatSuccess } from './format.js';
import type { TapEventView } from './tap-events.js';

/** One row of `weft viz top`: the requests between two peers for one method and path. */
export interface TopRow {
  readonly source: string;
  readonly destination: string;
  readonly method: string;
  readonly path: string;
  count: number;
  successes: number;
  /** Latency to the response's headers, in ms. */
  best: number;
  worst: number;
  last: number;
}

/** At most this many rows are kept (the least requested go first). */
const MAX_ROWS = 10_000;

/** A request's end that counts as a failure, as the metrics classify it (a reset, or no response, errored). */
function failed(e: TapEventView): boolean {
  return isFailure(e.status ?? 0, e.grpcStatus, e.reset !== undefined || e.status === undefined);
}

/** Who sent a request: the client's pod when the proxy knows it, its identity, else its address. */
function sourceOf(e: TapEventView): string {
  return e.srcLabels.src_pod ?? e.srcLabels.client_id?.split('.')[0] ?? e.src.replace(/:\d+$/, '');
}

function destinationOf(e: TapEventView): string {
  return e.dstLabels.dst_pod ?? e.dst.replace(/:\d+$/, '');
}

/**
 * `weft viz top`: tap events folded into the busiest paths. A request counts when its
 * response ends; its latency is the time to the response's headers, which viz's `end`
 * events carry over from their `rsp`.
 */
export class TopTable {
  private readonly rows = new Map<string, TopRow>();

  add(e: TapEventView): void {
    if (e.type !== 'end') return;
    const latency = e.latencyMs ?? 0;
    const source = sourceOf(e);
    const destination = destinationOf(e);
    const key = [source, destination, e.method, e.path].join('\u0000');
    let row = this.rows.get(key);
    if (!row) {
      if (this.rows.size >= MAX_ROWS) this.evict();
      row = {
        source,
        destination,
        method: e.method,
        path: e.path,
        count: 0,
        successes: 0,
        best: latency,
        worst: latency,
        last: latency,
      };
      this.rows.set(key, row);
    }
    row.count++;
    if (!failed(e)) row.successes++;
    row.best = Math.min(row.best, latency);
    row.worst = Math.max(row.worst, latency);
    row.last = latency;
  }

  private evict(): void {
    let least: [string, TopRow] | undefined;
    for (const entry of this.rows) if (!least || entry[1].count < least[1].count) least = entry;
    if (least) this.rows.delete(least[0]);
  }

  /** The rows, most requested first. */
  top(limit = Number.POSITIVE_INFINITY): TopRow[] {
    return [...this.rows.values()]
      .sort((a, b) => b.count - a.count || a.path.localeCompare(b.path))
      .slice(0, limit);
  }

  /** The table as text: a header and at most `limit` rows. */
  render(limit: number): string[][] {
    return [
      ['SOURCE', 'DESTINATION', 'METHOD', 'PATH', 'COUNT', 'BEST', 'WORST', 'LAST', 'SUCCESS_RATE'],
      ...this.top(limit).map((r) => [
        r.source,
        r.destination,
        r.method,
        r.path,
        String(r.count),
        formatLatency(r.best),
        formatLatency(r.worst),
        formatLatency(r.last),
        formatSuccess(r.successes / r.count),
      ]),
    ];
  }
}
