// Runs one load phase while measuring the proxy's CPU seconds and peak RSS.

import { describeExit, type Managed } from './procs.js';
import { hwmMb, NoiseMeter, processTree, UsageMeter } from './procstat.js';
import type { Phase } from './types.js';

function proxyDied(proxy: Managed | undefined): Error | undefined {
  if (!proxy?.exitInfo) return undefined;
  return new Error(`${proxy.name} ${describeExit(proxy.exitInfo)} during the phase\n${proxy.tail()}`.trim());
}

/** Runs `work`, measuring the proxy's CPU and RSS (when there is a proxy) and the machine's noise. */
export async function measure<T>(proxy: Managed | undefined, work: () => Promise<T>): Promise<Phase<T>> {
  const meter = proxy ? new UsageMeter(proxy.pid) : undefined;
  const noiseMeter = new NoiseMeter();
  let result: T;
  try {
    result = await work();
  } catch (err) {
    meter?.stop();
    throw proxyDied(proxy) ?? err;
  }
  const usage = meter?.stop();
  const noise = noiseMeter.stop();
  const died = proxyDied(proxy);
  if (died) throw died;
  return usage ? { result, usage, noise } : { result, noise };
}

/** Peak RSS since start (VmHWM) of the proxy and its descendants, in MB. */
export function peakRssMb(proxy: Managed): number {
  return hwmMb(processTree(proxy.pid));
}
