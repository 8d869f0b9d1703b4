/**
 * A tiny TCP peer run inside a network namespace by the tests (test/helpers/netns.ts):
 *   server <host> <port> <banner>   accepts connections, writes the banner to each, closes;
 *                                   prints "listening" once it listens.
 *   origdst <host> <port>           the same, answering with the connection's original
 *                                   destination (SO_ORIGINAL_DST) as JSON, or "null";
 *   http-server <host> <port> <banner>  answers HTTP requests with "<banner> <Host header>";
 *   echo <host> <port>              echoes what each connection sends;
 *   client <host> <port> [payload]  connects, sends the payload if any, prints what it read
 *                                   (or "error <code>"), exits;
 *   http <url>                      GETs the URL, prints "<status> <body>" (or "error ...").
 */
import http from 'node:http';
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
} else if (mode === 'http-server') {
  const server = http.createServer((req, res) => {
    req.resume();
    res.end(`${banner} ${req.headers.host ?? ''}`);
  });
  server.listen(port, host, () => process.stdout.write('listening\n'));
} else if (mode === 'echo') {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  server.listen(port, host, () => process.stdout.write('listening\n'));
} else if (mode === 'http') {
  http
    .get(host, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        process.stdout.write(`${res.statusCode} ${body}\n`);
        process.exit(0);
      });
    })
    .on('error', (err: NodeJS.ErrnoException) => {
      process.stdout.write(`error ${err.code ?? err.message}\n`);
      process.exit(0);
    });
} else if (mode === 'client') {
  const s = net.connect({ host, port });
  if (banner !== '') s.end(banner);
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
    'usage: netns-agent server|http-server <host> <port> <banner> | origdst|echo <host> <port> | client <host> <port> [payload] | http <url>\n',
  );
  process.exit(2);
}
