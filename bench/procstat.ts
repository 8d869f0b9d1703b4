// CPU time and resident memory of a process and its descendants, read from /proc.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { ProcUsage } from './types.js';

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface StatFields {
  ppid: number;
  /** utime + stime in clock ticks. */
  cpuTicks: number;
}

function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  return { ppid: Number(rest[1]), cpuTicks: Number(rest[11]) + Number(rest[12]) };
}

/** The pid itself and every descendant, found by walking parent links of all processes in /proc. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(pid);
    else children.set(stat.ppid, [pid]);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    for (const child of children.get(out[i] ?? -1) ?? []) out.push(child);
  }
  return out;
}

/** Sum of utime+stime, in seconds, over the given pids (exited ones count as 0). */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += readStat(pid)?.cpuTicks ?? 0;
  return ticks / ticksPerSecond();
}

type StatusField = 'VmRSS' | 'VmHWM' | 'RssAnon';

function statusKb(pid: number, fields: StatusField[]): number[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return fields.map(() => 0);
  }
  return fields.map((field) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  });
}

/**
 * Resident memory summed over the pids, in MB: all of it (VmRSS), and the private part
 * (RssAnon: heap and other anonymous memory; the rest is file pages such as the node
 * binary's code, shared with every process that maps the same file).
 */
export function rssMb(pids: number[]): { rss: number; anon: number } {
  let rss = 0;
  let anon = 0;
  for (const pid of pids) {
    const [r = 0, a = 0] = statusKb(pid, ['VmRSS', 'RssAnon']);
    rss += r;
    anon += a;
  }
  return { rss: rss / 1024, anon: anon / 1024 };
}

/** Peak resident set since start (VmHWM), summed over the pids. */
export function hwmMb(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) kb += statusKb(pid, ['VmHWM'])[0] ?? 0;
  return kb / 1024;
}

/**
 * Measures one phase: CPU seconds from before to after, and the highest VmRSS seen by sampling
 * every `intervalMs` (the process tree is taken once, at the start).
 */
export class UsageMeter {
  private readonly pids: number[];
  private readonly cpuStart: number;
  private peak: number;
  private peakAnon: number;
  private readonly timer: NodeJS.Timeout;

  constructor(rootPid: number, intervalMs = 100) {
    this.pids = processTree(rootPid);
    this.cpuStart = cpuSeconds(this.pids);
    this.peak = 0;
    this.peakAnon = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    const { rss, anon } = rssMb(this.pids);
    this.peak = Math.max(this.peak, rss);
    this.peakAnon = Math.max(this.peakAnon, anon);
  }

  stop(): ProcUsage {
    clearInterval(this.timer);
    this.sample();
    return {
      cpuS: cpuSeconds(this.pids) - this.cpuStart,
      peakRssMb: this.peak,
      peakAnonMb: this.peakAnon,
    };
  }
}

/** Whole-machine busy and steal CPU seconds since boot, from the first line of /proc/stat. */
function machineCpu(): { busyS: number; stealS: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return {
    busyS: (user + nice + system + irq + softirq) / ticksPerSecond(),
    stealS: steal / ticksPerSecond(),
  };
}

/** CPU seconds of this process and all its descendants: live ones, and reaped ones (cutime+cstime). */
function ownTreeCpu(): number {
  let text: string;
  try {
    text = readFileSync('/proc/self/stat', 'utf8');
  } catch {
    return 0;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 14-17: utime, stime, cutime, cstime.
  const selfTicks = Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
  return selfTicks / ticksPerSecond() + cpuSeconds(processTree(process.pid).slice(1));
}

export interface Noise {
  /** CPU seconds used on this machine by processes outside the benchmark during the phase. */
  otherCpuS: number;
  /** CPU seconds the hypervisor took away (steal) during the phase. */
  stealS: number;
}

/** Measures how much the rest of the machine was doing during a phase. */
export class NoiseMeter {
  private readonly machine = machineCpu();
  private readonly own = ownTreeCpu();

  stop(): Noise {
    const machine = machineCpu();
    const own = ownTreeCpu();
    const other = machine.busyS - this.machine.busyS - (own - this.own);
    return {
      otherCpuS: Math.max(0, Math.round(other * 100) / 100),
      stealS: Math.round((machine.stealS - this.machine.stealS) * 100) / 100,
    };
  }
}
