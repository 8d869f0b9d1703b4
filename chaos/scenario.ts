// The shape of one scenario of the fault and adversarial-input suite (`npm run chaos`).
// Each scenario starts the real processes it needs (proxies, apps, the control plane),
// does one hostile or faulty thing to them, and says what was lost or refused against its goal.

/** Resident memory and open descriptors of the process under test. */
export interface ResourceSample {
  readonly rssBytes: number;
  readonly fds: number;
}

export type ScenarioGroup = 'faults' | 'http1' | 'http2' | 'tls' | 'control-plane' | 'soak' | 'files';

export interface ScenarioContext {
  /** The short form (inside `npm test`): fewer connections, shorter runs, the same checks. */
  readonly short: boolean;
  /** A fresh directory for this scenario's state and logs; the files scenario greps them all. */
  readonly dir: string;
  /** Progress, for the operator; not part of the result. */
  log(message: string): void;
}

export interface ScenarioResult {
  /** What was done, in one line: "420 connections each sent one bad 9-byte frame". */
  readonly did: string;
  /** What was lost or refused: "all 420 closed with GOAWAY PROTOCOL_ERROR within 1 s". */
  readonly outcome: string;
  /** The process under test before and after (undefined where no long-lived process is under test). */
  readonly before?: ResourceSample;
  readonly after?: ResourceSample;
  readonly pass: boolean;
  /** Figures behind the outcome, written to the JSON report. */
  readonly figures?: Readonly<Record<string, number | string | boolean>>;
}

export interface Scenario {
  /** Unique, kebab-case: "h2-rapid-reset". */
  readonly name: string;
  readonly group: ScenarioGroup;
  /** The goal it is judged against: "each connection closed, others served, memory bounded". */
  readonly goal: string;
  /** Whether the short form runs it (`npm test`); long ones (soak) run only under `npm run chaos`. */
  readonly inShortForm: boolean;
  run(ctx: ScenarioContext): Promise<ScenarioResult>;
}
