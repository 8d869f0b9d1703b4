// A tiny incremental HTTP/1.1 response parser for the open-loop generator: status line, headers,
// and a body framed by Content-Length (chunked bodies are skipped too, in case a proxy re-frames).
// It keeps no body bytes, only counts them.

export interface ParsedResponse {
  status: number;
  /** The server said `Connection: close` (or spoke HTTP/1.0 without keep-alive). */
  close: boolean;
  bodyBytes: number;
}

export class ParseError extends Error {}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 16 * 1024;

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers';

export class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: State = 'head';
  private remaining = 0;
  private current: ParsedResponse = { status: 0, close: false, bodyBytes: 0 };

  constructor(private readonly onResponse: (r: ParsedResponse) => void) {}

  /** Feeds bytes from the socket; calls onResponse for each complete response. Throws ParseError. */
  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    for (;;) {
      const next = this.step(pos);
      if (next === pos) break; // no progress: more bytes are needed
      pos = next;
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  /** Advances one step from `pos`; returns the new position (`pos` itself when more bytes are needed). */
  private step(pos: number): number {
    const buf = this.buf;
    switch (this.state) {
      case 'head': {
        const end = buf.indexOf(HEAD_END, pos);
        if (end < 0) {
          if (buf.length - pos > MAX_HEAD) throw new ParseError('response head too large');
          return pos;
        }
        this.startBody(buf.toString('latin1', pos, end));
        return end + HEAD_END.length;
      }
      case 'body': {
        const take = Math.min(this.remaining, buf.length - pos);
        this.remaining -= take;
        this.current.bodyBytes += take;
        if (this.remaining === 0) this.finish();
        return pos + take;
      }
      case 'chunk-size':
      case 'trailers': {
        const eol = buf.indexOf(CRLF, pos);
        if (eol < 0) return pos;
        const line = buf.toString('latin1', pos, eol);
        if (this.state === 'trailers') {
          if (line === '') this.finish();
          return eol + 2;
        }
        const size = Number.parseInt(line.split(';')[0] ?? '', 16);
        if (!Number.isFinite(size) || size < 0) throw new ParseError(`bad chunk size "${line}"`);
        this.remaining = size;
        this.state = size === 0 ? 'trailers' : 'chunk-data';
        return eol + 2;
      }
      case 'chunk-data': {
        const take = Math.min(this.remaining, buf.length - pos);
        this.remaining -= take;
        this.current.bodyBytes += take;
        if (this.remaining === 0) this.state = 'chunk-crlf';
        return pos + take;
      }
      case 'chunk-crlf': {
        if (buf.length - pos < 2) return pos;
        if (buf[pos] !== 13 || buf[pos + 1] !== 10) throw new ParseError('missing CRLF after chunk');
        this.state = 'chunk-size';
        return pos + 2;
      }
    }
  }

  private startBody(head: string): void {
    const lines = head.split('\r\n');
    const statusLine = lines[0] ?? '';
    const match = /^HTTP\/1\.([01]) (\d{3})/.exec(statusLine);
    if (!match) throw new ParseError(`bad status line "${statusLine.slice(0, 60)}"`);
    const status = Number(match[2]);
    let close = match[1] === '0';
    let length = -1;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] ?? '';
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
      if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = value.includes('chunked');
      else if (name === 'connection')
        close = value.includes('close') || (close && !value.includes('keep-alive'));
    }
    this.current = { status, close, bodyBytes: 0 };
    if (status >= 100 && status < 200) {
      // Interim response (e.g. 100 Continue): the real one follows.
      this.state = 'head';
      return;
    }
    if (status === 204 || status === 304) {
      this.finish();
    } else if (chunked) {
      this.state = 'chunk-size';
    } else if (length >= 0) {
      this.remaining = length;
      if (length === 0) this.finish();
      else this.state = 'body';
    } else {
      throw new ParseError('response has neither Content-Length nor chunked framing');
    }
  }

  private finish(): void {
    this.state = 'head';
    this.onResponse(this.current);
  }
}
