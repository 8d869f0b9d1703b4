import type { DestinationProfile } from '../../grpc/protos.js';
import type { Logger } from '../../util/log.js';
import { DEFAULT_BUDGET, RetryBudget } from '../profiles/budget.js';
import { Profile } from '../profiles/profile.js';
import { AuthorityWatch } from './streams.js';

/** How long a request waits for its authority's first profile answer before going on without one. */
export const PROFILE_WAIT_MS = 1000;

/**
 * One authority's profile, as the control plane streams it. `answered` once the first
 * answer (or the news that there is none) has come; until then requests wait for it, a
 * bounded time. The retry budget lives here, so a profile update that keeps its
 * settings keeps what it has counted.
 */
export class ProfileWatch extends AuthorityWatch<DestinationProfile> {
  profile: Profile | undefined;
  /**
   * The route metrics' `dst` label: the profile's service as `<fqdn>:<port>`, whatever
   * name the client used for it (as Linkerd labels it), or the authority as named.
   */
  dst: string;
  budget: RetryBudget | undefined;
  answered = false;
  private waiters: Array<() => void> | undefined;
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(
    authority: string,
    private readonly log: Logger,
  ) {
    super(authority);
    this.dst = authority;
  }

  update(message: DestinationProfile): void {
    const profile = new Profile(message);
    const b = profile.budget ?? DEFAULT_BUDGET;
    if (!this.budget?.sameAs(b.retryRatio, b.minRetriesPerSecond, b.ttlMs)) {
      this.budget = new RetryBudget(b.retryRatio, b.minRetriesPerSecond, b.ttlMs);
    }
    if (profile.defined || this.profile?.defined) {
      this.log.debug(
        { authority: this.authority, routes: profile.routes.length, split: profile.split !== undefined },
        'profile updated',
      );
    }
    this.profile = profile;
    this.dst = canonicalDst(this.authority, profile.fullyQualifiedName);
    this.release();
  }

  /** No profile is coming for now (not a mesh name, the stream broke, or the watch was dropped). */
  none(): void {
    this.release();
  }

  /** Calls `cb` once the first answer is in, or after PROFILE_WAIT_MS without one. */
  whenAnswered(cb: () => void): void {
    if (this.answered) {
      cb();
      return;
    }
    if (!this.waiters) {
      this.waiters = [];
      this.waitTimer = setTimeout(() => this.release(), PROFILE_WAIT_MS);
      this.waitTimer.unref();
    }
    this.waiters.push(cb);
  }

  private release(): void {
    this.answered = true;
    clearTimeout(this.waitTimer);
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters) for (const cb of waiters) cb();
  }
}

/**
 * `<fqdn>:<port>`, the port the authority named or 80 (as discovery resolves a name without
 * one), so `flaky`, `flaky:80` and `flaky.ns.svc.cluster.local` share one series; the
 * authority when the profile names no service.
 */
function canonicalDst(authority: string, fqdn: string): string {
  if (fqdn === '') return authority;
  const colon = authority.lastIndexOf(':');
  const port = colon > 0 && !authority.endsWith(']') ? authority.slice(colon) : ':80';
  return fqdn + port;
}
