import { PassThrough, type Readable } from 'node:stream';

/**
 * A request body that can be sent more than once (take the first `attempt()` at once: the
 * source flows from construction on): it streams to the attempt in flight
 * as it arrives, and keeps a copy while it stays within `limit` bytes, so a retry can
 * send what came so far and then the rest. Past the limit the copy is dropped and the
 * body is no longer `replayable`.
 */
export class ReplayBody {
  private chunks: Buffer[] | undefined = [];
  private size = 0;
  private ended = false;
  private aborted = false;
  private current: PassThrough | undefined;

  constructor(
    private readonly source: Readable,
    limit: number,
  ) {
    source.on('data', (chunk: Buffer) => {
      if (this.chunks) {
        this.size += chunk.length;
        if (this.size > limit) this.chunks = undefined;
        else this.chunks.push(chunk);
      }
      const current = this.current;
      if (current && !current.write(chunk)) {
        source.pause();
        current.once('drain', () => source.resume());
      }
    });
    source.once('end', () => {
      this.ended = true;
      this.current?.end();
    });
    // The client went away mid-body: the attempt's body fails too.
    source.once('close', () => {
      if (this.ended) return;
      this.aborted = true;
      this.current?.destroy(new Error('the request body was aborted'));
    });
  }

  get replayable(): boolean {
    return this.chunks !== undefined;
  }

  /** The body for a new attempt: what has arrived so far, then the rest as it comes. */
  attempt(): Readable {
    this.current?.destroy();
    const body = new PassThrough();
    if (this.aborted) {
      body.destroy(new Error('the request body was aborted'));
      return body;
    }
    for (const chunk of this.chunks ?? []) body.write(chunk);
    if (this.ended) body.end();
    this.current = body;
    // A pause for the previous attempt's back-pressure must not hold this one.
    this.source.resume();
    return body;
  }
}
