/**
 * A tiny TCP peer run inside a network namespace by the tests (test/helpers/netns.ts):
 *   server <host> <port> <banner>   accepts connections, writes the banner to each, closes;
 *                                   prints "listening" once it listens.
 *   client <host> <port>            connects, prints what it read (or "error <code>"), exits.
 */
import net from 'node:net';

const [mode, host = '', portText = '', banner = ''] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'server') {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.end(banner);
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
  process.stderr.write('usage: netns-agent server <host> <port> <banner> | client <host> <port>\n');
  process.exit(2);
}
