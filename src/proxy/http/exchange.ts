import type { Labels } from '../../metrics/registry.js';
import type { HostPort } from '../../util/addr.js';
import type { ProxyError } from '../errors.js';
import type { Peer } from '../tls/peer.js';

/** What the metrics layer (and later tap) learn about an exchange's response. */
export interface ExchangeObserver {
  /** The response's headers are going to the client. */
  head(status: number): void;
  /** The response finished, or failed after its headers (errored). */
  end(status: number, grpcStatus: number | undefined, errored: boolean): void;
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
  /** The error the proxy answered with, if it answered one itself. */
  failedWith: ProxyError | undefined;
  /**
   * The client went away before the response had ended: it cancelled the request, which
   * is no failure of the endpoint (the balancer does not count it against it).
   */
  cancelledByClient = false;
  readonly startedAt = performance.now();
  private observers: ExchangeObserver[] | undefined;
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

  observe(o: ExchangeObserver): void {
    if (this.observers) this.observers.push(o);
    else this.observers = [o];
  }

  /** Called once, when the response headers are sent. */
  responseHead(status: number): void {
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
    this.sendFailure(error);
  }

  protected abstract sendFailure(error: ProxyError): void;

  /** The client has gone: its connection or stream is closed. */
  abstract readonly clientGone: boolean;
}

export type HttpService<E extends Exchange> = (exchange: E) => void;
export type HttpLayer<E extends Exchange> = (next: HttpService<E>) => HttpService<E>;
