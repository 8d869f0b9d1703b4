/** The emoji service: lists the ballot and looks emoji up by shortcode. */
import * as grpc from '@grpc/grpc-js';
import { EMOJI, findByShortcode } from './emojis.js';
import type { Logger } from './main.js';
import {
  type FindByShortcodeRequest,
  type FindByShortcodeResponse,
  type ListAllEmojiRequest,
  type ListAllEmojiResponse,
  loadEmojiService,
} from './protos.js';

export function createEmojiServer(log: Logger): grpc.Server {
  const listAll: grpc.handleUnaryCall<ListAllEmojiRequest, ListAllEmojiResponse> = (_call, cb) => {
    cb(null, { list: EMOJI.map((e) => ({ unicode: e.unicode, shortcode: e.shortcode })) });
  };
  const findByShortcodeRpc: grpc.handleUnaryCall<FindByShortcodeRequest, FindByShortcodeResponse> = (
    call,
    cb,
  ) => {
    const found = findByShortcode(call.request.shortcode);
    log.debug({ shortcode: call.request.shortcode, found: found !== undefined }, 'find by shortcode');
    // An unknown shortcode is an empty answer (no emoji), not an error, as in the original.
    cb(null, { emoji: found ? { unicode: found.unicode, shortcode: found.shortcode } : null });
  };
  const server = new grpc.Server();
  server.addService(loadEmojiService() as unknown as grpc.ServiceDefinition, {
    ListAll: listAll,
    FindByShortcode: findByShortcodeRpc,
  });
  return server;
}
