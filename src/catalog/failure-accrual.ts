import { parseDuration } from '../util/duration.js';

/**
 * Failure accrual (circuit breaking) of a Service's endpoints, read from its annotations as
 * Linkerd reads them (`balancer.linkerd.io/failure-accrual` and its `-consecutive-*`
 * settings), each also accepted under `balancer.weft.io/`, which wins when both are set.
 * Without `failure-accrual: consecutive` there is none: the application's own responses
 * never take an endpoint out (connect failures still do, in the proxy).
 */

export const WEFT_BALANCER_PREFIX = 'balancer.weft.io/';
export const LINKERD_BALANCER_PREFIX = 'balancer.linkerd.io/';
/** Read in this order: the first one set is used. */
const PREFIXES = [WEFT_BALANCER_PREFIX, LINKERD_BALANCER_PREFIX] as const;

/** The annotations, without their prefix. */
export const FAILURE_ACCRUAL_KEYS = {
  mode: 'failure-accrual',
  maxFailures: 'failure-accrual-consecutive-max-failures',
  minPenalty: 'failure-accrual-consecutive-min-penalty',
  maxPenalty: 'failure-accrual-consecutive-max-penalty',
  jitterRatio: 'failure-accrual-consecutive-jitter-ratio',
} as const;

const KNOWN_KEYS: ReadonlySet<string> = new Set(Object.values(FAILURE_ACCRUAL_KEYS));

export interface ConsecutiveFailures {
  readonly kind: 'consecutive';
  /** Failures in a row that take an endpoint out. */
  readonly maxFailures: number;
  /** How long it is out the first time; each failed probe doubles it, up to maxPenaltyMs. */
  readonly minPenaltyMs: number;
  readonly maxPenaltyMs: number;
  /** Up to this share of each penalty is added at random (Linkerd's jitter ratio, 0 to 100). */
  readonly jitterRatio: number;
}

export type FailureAccrual = { readonly kind: 'none' } | ConsecutiveFailures;

export const NO_FAILURE_ACCRUAL: FailureAccrual = { kind: 'none' };

/** Linkerd's defaults for the settings not given. */
export const CONSECUTIVE_DEFAULTS = {
  maxFailures: 7,
  minPenaltyMs: 1000,
  maxPenaltyMs: 60_000,
  jitterRatio: 0.5,
} as const;

/** A problem with one annotation. */
export interface AnnotationProblem {
  readonly annotation: string;
  readonly message: string;
}

export interface FailureAccrualReading {
  /** `none` when any annotation is invalid. */
  readonly accrual: FailureAccrual;
  readonly problems: readonly AnnotationProblem[];
}

/** The largest uint32, the Destination API's field for max failures. */
const MAX_FAILURES_LIMIT = 2 ** 32 - 1;
/** The longest penalty: the longest timer Node sets, as parseDuration allows. */
const MAX_PENALTY_MS = 2 ** 31 - 1;
const DAY_MS = 86_400_000;

/** What a setting's reader returns for a value it cannot take. */
class Invalid {
  constructor(readonly message: string) {}
}

function mode(text: string): 'consecutive' | Invalid {
  return text === 'consecutive'
    ? text
    : new Invalid(`"${text}" is not a failure accrual mode (the one there is: "consecutive")`);
}

function maxFailures(text: string): number | Invalid {
  if (!/^\d+$/.test(text)) return new Invalid(`"${text}" is not a whole number of failures`);
  const n = Number(text);
  if (n < 1) return new Invalid('must be at least 1');
  if (n > MAX_FAILURES_LIMIT) return new Invalid(`must be at most ${MAX_FAILURES_LIMIT}`);
  return n;
}

/** A duration as parseDuration reads it, or whole days (`1d`), which Linkerd's annotations also take. */
function penalty(text: string): number | Invalid {
  const days = /^(\d+)d$/.exec(text);
  let ms: number;
  try {
    ms = days ? Number(days[1]) * DAY_MS : parseDuration(text, 'penalty');
  } catch (err) {
    return new Invalid((err as Error).message.replace(/^penalty: /, ''));
  }
  if (ms > MAX_PENALTY_MS) return new Invalid(`"${text}" is too long`);
  return ms > 0 ? ms : new Invalid('must be above zero');
}

function jitterRatio(text: string): number | Invalid {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text)) return new Invalid(`"${text}" is not a number (use e.g. 0.5)`);
  const n = Number(text);
  return n <= 100 ? n : new Invalid('must be from 0 to 100');
}

/**
 * The failure accrual a Service's annotations ask for, and every problem with them: a
 * value that cannot be read, an unknown `balancer.weft.io/` annotation, a min penalty
 * above the max. Settings are checked whether or not the mode is set; they apply only
 * with `failure-accrual: consecutive`.
 */
export function readFailureAccrual(annotations: Readonly<Record<string, string>>): FailureAccrualReading {
  const problems: AnnotationProblem[] = [];
  for (const key of Object.keys(annotations)) {
    if (key.startsWith(WEFT_BALANCER_PREFIX) && !KNOWN_KEYS.has(key.slice(WEFT_BALANCER_PREFIX.length))) {
      problems.push({
        annotation: key,
        message: `unknown annotation (known: ${[...KNOWN_KEYS].map((k) => WEFT_BALANCER_PREFIX + k).join(', ')})`,
      });
    }
  }
  /** The value of one setting and the annotation it came from; every form given is checked. */
  const setting = <T>(
    name: string,
    read: (text: string) => T | Invalid,
  ): { value: T; annotation: string } | undefined => {
    let chosen: { value: T; annotation: string } | undefined;
    for (const prefix of PREFIXES) {
      const annotation = prefix + name;
      const text = annotations[annotation];
      if (text === undefined) continue;
      const value = read(text.trim());
      if (value instanceof Invalid) problems.push({ annotation, message: value.message });
      else chosen ??= { value, annotation };
    }
    return chosen;
  };
  const on = setting(FAILURE_ACCRUAL_KEYS.mode, mode);
  const failures = setting(FAILURE_ACCRUAL_KEYS.maxFailures, maxFailures);
  const min = setting(FAILURE_ACCRUAL_KEYS.minPenalty, penalty);
  const max = setting(FAILURE_ACCRUAL_KEYS.maxPenalty, penalty);
  const jitter = setting(FAILURE_ACCRUAL_KEYS.jitterRatio, jitterRatio);
  const minPenaltyMs = min?.value ?? CONSECUTIVE_DEFAULTS.minPenaltyMs;
  const maxPenaltyMs = max?.value ?? CONSECUTIVE_DEFAULTS.maxPenaltyMs;
  const at = min ?? max;
  if (at && minPenaltyMs > maxPenaltyMs) {
    const named = (s: { annotation: string } | undefined, ms: number, what: string): string =>
      `${what} (${ms} ms, ${s ? s.annotation : 'the default'})`;
    problems.push({
      annotation: at.annotation,
      message: `${named(min, minPenaltyMs, 'the min penalty')} is above ${named(max, maxPenaltyMs, 'the max penalty')}`,
    });
  }
  if (problems.length > 0 || on === undefined) return { accrual: NO_FAILURE_ACCRUAL, problems };
  return {
    accrual: {
      kind: 'consecutive',
      maxFailures: failures?.value ?? CONSECUTIVE_DEFAULTS.maxFailures,
      minPenaltyMs,
      maxPenaltyMs,
      jitterRatio: jitter?.value ?? CONSECUTIVE_DEFAULTS.jitterRatio,
    },
    problems,
  };
}
