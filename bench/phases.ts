// Runs one load phase while measuring the proxies' CPU seconds and peak RSS.

import { describeExit, type Managed } from './procs.js';
import { hwmMb, NoiseMeter, processTree, UsageMeter } from './procstat.js';
import type { Phase, ProcUsage } from './types.js';

function proxyDied(proxies: Managed[]): Error | undefined {
  const dead = proxies.find((p) => p.exitInfo);
  if (!dead?.exitInfo) return undefined;
  return new Error(`${dead.name} ${describeExit(dead.exitInfo)} during the phase\n${dead.tail()}`.trim());
}

/**
 * Runs `work`, measuring the proxies' CPU and RSS (when there are any) and the machine's noise.
 * CPU is summed over the proxies; RSS is kept per proxy, and `peakRssMb` is the largest one.
 */
export async function measure<T>(proxies: Managed[], work: () => Promise<T>): Promise<Phase<T>> {
  const meters = proxies.map((p) => ({ name: p.name, meter: new UsageMeter(p.pid) }));
  const stopMeters = (): ProcUsage | undefined => {
    const shares = meters.map(({ name, meter }) => ({ name, ...meter.stop() }));
    if (shares.length === 0) return undefined;
    const usage: ProcUsage = {
      cpuS: shares.reduce((sum, s) => sum + s.cpuS, 0),
      peakRssMb: Math.max(...shares.map((s) => s.peakRssMb)),
      peakAnonMb: Math.max(...shares.map((s) => s.peakAnonMb)),
    };
    if (shares.length > 1) usage.procs = shares;
    return usage;
  };
  const noiseMeter = new NoiseMeter();
  let result: T;
  try {
    result = await work();
  } catch (err) {
    stopMeters();
    throw proxyDied(proxies) ?? err;
  }
  const usage = stopMeters();
  const noise = noiseMeter.stop();
  const died = proxyDied(proxies);
  if (died) throw died;
  return usage ? { result, usage, noise } : { result, noise };
}

/** Peak RSS since start (VmHWM) of the proxy and its descendants, in MB. */
export function peakRssMb(proxy: Managed): number {
  return hwmMb(processTree(proxy.pid));
}
