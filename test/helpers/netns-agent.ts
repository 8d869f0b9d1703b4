/**
 * A tiny TCP peer run inside a network namespace by the tests (test/helpers/netns.ts):
 *   server <host> <port> <banner>   accepts connections, writes the banner to each, closes;
 *                                   prints "listening" once it listens.
 *   origdst <host> <port>           the same, answering with the connection's original
 *                                   destination (SO_ORIGINAL_DST) as JSON, or "null";
 *   client <host> <port>            connects, prints what it read (or "error <code>"), exits.
 */
import net from 'node:net';
import { originalDst } from '../../src/proxy/transparent/original-dst.js';

const [mode, host = '', portText = '', banner = ''] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'server' || mode === 'origdst') {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(mode === 'server' ? banner : JSON.stringify(originalDst(s) ?? null));
  });
  server.listen(port, host, () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else if (mode === 'client') {
  const s = net.connect({ host, port });
  let got = '';
  const timer = setTimeout(() => {
    process.stdout.write('error timeout\n');
    process.exit(0);
  }, 5000);
  s.setEncoding('utf8');
  s.on('data', (d: string) => (got += d));
  s.on('end', () => {
    clearTimeout(timer);
    process.stdout.write(`${got}\n`);
    process.exit(0);
  });
  s.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    process.stdout.write(`error ${err.code ?? err.message}\n`);
    process.exit(0);
  });
} else {
  process.stderr.write(
    'usage: netns-agent server <host> <port> <banner> | origdst <host> <port> | client <host> <port>\n',
  );
  process.exit(2);
}
