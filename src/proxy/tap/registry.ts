import { randomBytes } from 'node:crypto';
import type { TapEventMessage } from '../../grpc/protos.js';
import type { TapMatcher } from './match.js';

/**
 * Admits up to `ratePerSecond` requests a second, with a burst of one second's worth: a
 * bucket of that many tokens, refilled continuously.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    now = performance.now(),
  ) {
    this.tokens = ratePerSecond;
    this.last = now;
  }

  /** Takes a token if there is one. */
  take(now = performance.now()): boolean {
    const rate = this.ratePerSecond;
    this.tokens = Math.min(rate, this.tokens + ((now - this.last) * rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** One Observe stream: what it matches, how many requests a second it admits, where its events go. */
export class Tap {
  constructor(
    readonly matches: TapMatcher,
    readonly bucket: TokenBucket,
    readonly emit: (event: TapEventMessage) => void,
  ) {}
}

/** The workload a proxy fronts, as tap events name it. */
export interface TapWorkload {
  readonly namespace: string;
  readonly workload: string;
  readonly pod: string;
  readonly serviceAccount: string;
}

/**
 * The active taps of one proxy, shared by its inbound and outbound tap layers and its tap
 * server. `active` is the one thing the request path reads when nobody is tapping.
 */
export class TapRegistry {
  /** Whether any tap is open: the tap layer does nothing else while this is false. */
  active = false;
  /** Every event id of this proxy carries it (random at start, as Linkerd's tap ids are per proxy). */
  readonly base = randomBytes(4).readUInt32BE(0);
  private streams = 0;
  private list: readonly Tap[] = [];
  /** Inbound: the destination (this workload), labelled as peers' outbound dst_* labels are. */
  readonly inboundDestinationMeta: Readonly<Record<string, string>>;
  /** Outbound: the source (this workload). */
  readonly outboundSourceMeta: Readonly<Record<string, string>>;

  constructor(workload?: TapWorkload) {
    const meta = (prefix: string): Record<string, string> =>
      workload
        ? {
            [`${prefix}_namespace`]: workload.namespace,
            [`${prefix}_deployment`]: workload.workload,
            [`${prefix}_pod`]: workload.pod,
            [`${prefix}_serviceaccount`]: workload.serviceAccount,
          }
        : {};
    this.inboundDestinationMeta = meta('dst');
    this.outboundSourceMeta = meta('src');
  }

  /** The open taps (a new array on each change, so a request in flight iterates a stable one). */
  get taps(): readonly Tap[] {
    return this.list;
  }

  /** Opens a tap; returns the function that closes it. */
  add(tap: Tap): () => void {
    this.list = [...this.list, tap];
    this.active = true;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.list = this.list.filter((t) => t !== tap);
      this.active = this.list.length > 0;
    };
  }

  /** The next request's id (stream number). */
  nextStream(): number {
    return ++this.streams;
  }
}
