// HTTP/2 upstream, run as its own process: cleartext HTTP/2 with prior knowledge (h2c), answering every
// stream with 200 and a 64-byte body. Prints {"ready":true,"port":N}.
import { createServer } from 'node:http2';
import { announceReady, exitOnSignals } from './node-child.js';

const BODY = Buffer.alloc(64, 'h');

const server = createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on('stream', (stream) => {
  stream.on('error', () => undefined);
  // Drain any request body, then answer.
  stream.resume();
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': BODY.length });
  stream.end(BODY);
});
server.on('sessionError', () => undefined);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  announceReady(typeof addr === 'object' && addr ? addr.port : 0);
});
exitOnSignals(() => server.close());
