import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Process and Node.js runtime metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_open_fds, nodejs_eventloop_lag_seconds, ...)
 * from prom-client's default collectors. They are read only at scrape time.
 */
export class ProcessMetrics {
  private readonly registry = new Registry();
  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
