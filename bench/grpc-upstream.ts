// gRPC upstream, run as its own process: a @grpc/grpc-js server with the unary weftbench.Echo method
// from bench/echo.proto, on cleartext HTTP/2. Prints {"ready":true,"port":N}.
import * as grpc from '@grpc/grpc-js';
import { type EchoMessage, echoService } from './grpc-payload.js';
import { announceReady, exitOnSignals } from './node-child.js';

const server = new grpc.Server();
const echo: grpc.handleUnaryCall<EchoMessage, EchoMessage> = (call, callback) => {
  callback(null, { message: call.request.message });
};
server.addService(echoService().service, { Echo: echo });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`grpc bind failed: ${err.message}\n`);
    process.exit(1);
  }
  announceReady(port);
});
exitOnSignals(() => server.forceShutdown());
