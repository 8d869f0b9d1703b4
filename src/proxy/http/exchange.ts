import type { Readable } from 'node:stream';
import type { Labels } from '../../metrics/registry.js';
import type { RouteStats } from '../../metrics/route.js';
import type { HostPort } from '../../util/addr.js';
import type { ProxyError } from '../errors.js';
import type { RetryBudget } from '../profiles/budget.js';
import type { CompiledRoute, Profile } from '../profiles/profile.js';
import type { Peer } from '../tls/peer.js';

/** What the metrics and tap layers learn about an exchange's response. */
export interface ExchangeObserver {
  /** The response's headers are going to the client. */
  head(status: number): void;
  /** The response finished, or failed after its headers (errored). */
  end(status: number, grpcStatus: number | undefined, errored: boolean): void;
}

/**
 * Set by the balance layer for the endpoint it picked: given the proxy's own error for the
 * attempt in flight, before anything of the response went out, whether it takes the
 * request to send it to another endpoint (a connect that failed before anything was sent).
 */
export interface Redispatcher {
  redispatch(error: ProxyError): boolean;
}

/**
 * One request and its response as the HTTP layers see it, whatever the protocol.
 * Layers read the request, set the route, and observe the response.
 */
export abstract class Exchange {
  /** The authority the request is for (metrics label, and the target by default). */
  authority = '';
  /** Where the forward layer sends the request; set by the route layer. */
  target: HostPort | undefined;
  /** The request path to send upstream (origin-form for HTTP/1). */
  path = '/';
  /**
   * The labels the metrics layer adds for the upstream peer: its TLS labels and dst_*,
   * once the balance layer has picked an endpoint. Unset: the direction's default.
   */
  dst: Labels | undefined;
  /** The identity the upstream endpoint must prove over mutual TLS; unset: plaintext. */
  serverId: string | undefined;
  /** A failure decided before forwarding (no endpoint available): the forward leaf answers it. */
  failure: ProxyError | undefined;
  /** Where the client's connection was going before interception redirected it (transparent mode). */
  originalDst: HostPort | undefined;
  /**
   * The authority of the CONNECT tunnel the request came through (outbound, explicit mode):
   * it names the request's destination, as the original destination does when intercepted.
   */
  tunnelAuthority: string | undefined;
  /** The error the proxy answered with, if it answered one itself. */
  failedWith: ProxyError | undefined;
  /**
   * The client went away before the response had ended: it cancelled the request, which
   * is no failure of the endpoint (the balancer does not count it against it).
   */
  cancelledByClient = false;
  /**
   * The authority the balance layer resolves, when a traffic split sends the request to
   * another service than the one it named. Unset: `authority`.
   */
  backendAuthority: string | undefined;
  /** The profile route the request matched (what the route metrics, retries, timeouts and splits use). */
  routing: RouteContext | undefined;
  /**
   * Set by the retry layer while another attempt is possible: given a response's status
   * (or the proxy's own error) for the attempt in flight, whether to drop it and try again.
   */
  retryPolicy: ((status: number, error?: ProxyError) => boolean) | undefined;
  /** Set by the balance layer while the request may go to another endpoint (see Redispatcher). */
  redispatcher: Redispatcher | undefined;
  /** The request body for the attempt in flight, replayed by the retry layer; unset: the client's. */
  replayBody: Readable | undefined;
  /** Counts attempts: a forward leaf whose attempt is no longer this one ignores what it still receives. */
  attempt = 0;
  /**
   * The response body's bytes so far, counted by the forward leaves only when set: the tap
   * layer sets it to 0 for the exchanges it observes. Unset, nothing is counted.
   */
  responseBytes: number | undefined;
  readonly startedAt = performance.now();
  private observers: ExchangeObserver[] | undefined;
  /** Observers from this index on belong to the attempt in flight. */
  private attemptMark = 0;
  private cancelAttempt: (() => void) | undefined;
  private headSent = false;
  private ended = false;

  /** What TLS proved about the downstream connection this request came on. */
  abstract readonly peer: Peer;
  abstract readonly protocol: 'http1' | 'h2';
  abstract readonly method: string;
  /** The authority the client named: the Host header, or HTTP/2's :authority. */
  abstract readonly requestAuthority: string | undefined;
  /** Rewrites the authority sent upstream (for absolute-form requests). */
  abstract setRequestAuthority(authority: string): void;
  /** Replaces every value of a request header (lower-case name) with one, or removes it. */
  abstract setRequestHeader(name: string, value: string | undefined): void;
  /** A request header's value (lower-case name; several values joined by ", "). */
  abstract requestHeader(name: string): string | undefined;
  /** The client's request body, when the request has one. */
  abstract readonly requestBody: Readable | undefined;

  observe(o: ExchangeObserver): void {
    if (this.observers) this.observers.push(o);
    else this.observers = [o];
  }

  /** Whether the response's headers have gone to the client. */
  get responded(): boolean {
    return this.headSent;
  }

  /**
   * A forward leaf starts sending the request: `cancel` stops its upstream request if the
   * attempt is dropped (a retry, a timeout). Returns the attempt's number (see `attempt`).
   */
  startAttempt(cancel: () => void): number {
    this.cancelAttempt = cancel;
    return this.attempt;
  }

  /**
   * A layer holds the request before any leaf has it (the balancer's queue): `cancel` runs
   * if the attempt is cancelled meanwhile (a route timeout), and is replaced by the leaf's.
   */
  holdAttempt(cancel: () => void): void {
    this.cancelAttempt = cancel;
  }

  /** Observers added from now on see only the next attempt's response (see dropAttempt). */
  markAttempt(): void {
    this.attemptMark = this.observers?.length ?? 0;
  }

  /** How many observers there are so far: `dropAttempt(status, mark)` lets go of those added after. */
  get observerCount(): number {
    return this.observers?.length ?? 0;
  }

  /**
   * Abandons the attempt in flight: its upstream request is cancelled and its leaf
   * ignores what still arrives. The attempt's own observers (endpoint, per-attempt
   * metrics) see it end with `status` (0: none) and are let go: those from the last
   * markAttempt on, or from `from` (an `observerCount`) when given.
   */
  dropAttempt(status: number, from = this.attemptMark): void {
    this.cancelInFlight();
    const os = this.observers;
    if (!os || os.length <= from) return;
    for (const o of os.splice(from)) {
      if (status !== 0) o.head(status);
      o.end(status, undefined, status === 0);
    }
  }

  /** Cancels the attempt in flight, if any: its upstream request stops, its leaf ignores the rest. */
  cancelInFlight(): void {
    this.attempt++;
    const cancel = this.cancelAttempt;
    this.cancelAttempt = undefined;
    cancel?.();
  }

  /** Whether the response has completed or failed (the exchange is over). */
  get finished(): boolean {
    return this.ended;
  }

  /** A forward leaf, at the response's headers: whether the retry layer takes them to try again. */
  retriesResponse(status: number): boolean {
    return this.retryPolicy?.(status) === true;
  }

  /** Called once, when the response headers are sent. */
  responseHead(status: number): void {
    this.headSent = true;
    const os = this.observers;
    if (os) for (const o of os) o.head(status);
  }

  /** Called once, when the response has completed or failed. */
  responseEnd(status: number, grpcStatus: number | undefined, errored: boolean): void {
    if (this.ended) return;
    this.ended = true;
    const os = this.observers;
    if (os) for (const o of os) o.end(status, grpcStatus, errored);
  }

  /** The client closed its connection or stream before the response ended (`status` 0: before its headers). */
  clientCancelled(status: number, errored = true): void {
    if (this.ended) return;
    this.cancelledByClient = true;
    this.responseEnd(status, undefined, errored);
  }

  /** Answers with the proxy's own error response, or resets the stream if headers went out. */
  fail(error: ProxyError): void {
    this.failedWith = error;
    if (!this.headSent && (this.redispatcher?.redispatch(error) || this.retryPolicy?.(error.status, error))) {
      return;
    }
    this.sendFailure(error);
  }

  protected abstract sendFailure(error: ProxyError): void;

  /** The client has gone: its connection or stream is closed. */
  abstract readonly clientGone: boolean;
}

/** What the profile layer learnt of a request: its route, the profile, and where both are counted. */
export interface RouteContext {
  readonly route: CompiledRoute;
  readonly profile: Profile;
  /** The authority's retry budget (outbound). */
  readonly budget: RetryBudget | undefined;
  readonly stats: RouteStats;
}

export type HttpService<E extends Exchange> = (exchange: E) => void;
export type HttpLayer<E extends Exchange> = (next: HttpService<E>) => HttpService<E>;
