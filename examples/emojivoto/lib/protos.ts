/**
 * The two services' protos (examples/emojivoto/proto), loaded at run time with
 * proto-loader, and the message types the programs exchange. Voting.proto is generated
 * from the emoji list by votingProtoText (see gen-voting-proto.ts) and committed.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { EMOJI, voteRpcName } from './emojis.js';

/**
 * The proto directory, found from this file's place: it is compiled to
 * dist/examples/emojivoto/lib/protos.js, four levels below the repository root.
 */
export const PROTO_DIR = fileURLToPath(new URL('../../../../examples/emojivoto/proto/', import.meta.url));

export interface EmojiMsg {
  unicode: string;
  shortcode: string;
}
export type ListAllEmojiRequest = Record<string, never>;
export interface ListAllEmojiResponse {
  list: EmojiMsg[];
}
export interface FindByShortcodeRequest {
  shortcode: string;
}
export interface FindByShortcodeResponse {
  /** null when no emoji has the shortcode. */
  emoji: EmojiMsg | null;
}
export type VoteRequest = Record<string, never>;
export type VoteResponse = Record<string, never>;
export type ResultsRequest = Record<string, never>;
export interface VotingResult {
  Shortcode: string;
  Votes: number;
}
export interface ResultsResponse {
  results: VotingResult[];
}

type Method<Req, Res> = protoLoader.MethodDefinition<Req, Res>;

export interface EmojiServiceDef {
  ListAll: Method<ListAllEmojiRequest, ListAllEmojiResponse>;
  FindByShortcode: Method<FindByShortcodeRequest, FindByShortcodeResponse>;
}

/** `Results` plus one `Vote<Name>` method per emoji. */
export interface VotingServiceDef {
  Results: Method<ResultsRequest, ResultsResponse>;
  [vote: string]: Method<VoteRequest, VoteResponse> | Method<ResultsRequest, ResultsResponse>;
}

export const EMOJI_SERVICE = 'emojivoto.v1.EmojiService';
export const VOTING_SERVICE = 'emojivoto.v1.VotingService';

const LOAD_OPTIONS: protoLoader.Options = {
  // Field names as written in the protos (`Shortcode`, `Votes` in VotingResult).
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

function load(file: string, service: string): protoLoader.ServiceDefinition {
  const path = `${PROTO_DIR}${file}`;
  if (!existsSync(path)) {
    throw new Error(`proto file ${path} not found (run from a checkout that has examples/emojivoto/proto)`);
  }
  const def = protoLoader.loadSync(path, LOAD_OPTIONS)[service];
  // Message and enum definitions carry `format`; a service is a map of methods.
  if (!def || 'format' in def) throw new Error(`${path} does not define the service ${service}`);
  return def as protoLoader.ServiceDefinition;
}

export function loadEmojiService(): EmojiServiceDef {
  return load('Emoji.proto', EMOJI_SERVICE) as unknown as EmojiServiceDef;
}

export function loadVotingService(): VotingServiceDef {
  return load('Voting.proto', VOTING_SERVICE) as unknown as VotingServiceDef;
}

/** The text of Voting.proto: one `Vote<Name>` RPC per emoji, in ballot order, then `Results`. */
export function votingProtoText(): string {
  const rpcs = EMOJI.map((e) => `    rpc ${voteRpcName(e.shortcode)} (VoteRequest) returns (VoteResponse);`);
  return [
    '// The voting service of emojivoto (a TypeScript port of BuoyantIO/emojivoto, same wire format).',
    '// Generated from examples/emojivoto/lib/emojis.ts by `node dist/examples/emojivoto/gen-voting-proto.js`:',
    '// edit the emoji list, not this file. test/examples checks the two agree.',
    'syntax = "proto3";',
    '',
    'package emojivoto.v1;',
    '',
    'message VotingResult {',
    '    string Shortcode = 1;',
    '    int32 Votes = 2;',
    '}',
    '',
    'message VoteRequest {',
    '}',
    '',
    'message VoteResponse {',
    '}',
    '',
    'message ResultsRequest {',
    '}',
    '',
    '// Every emoji with at least one vote, most votes first.',
    'message ResultsResponse {',
    '    repeated VotingResult results = 1;',
    '}',
    '',
    '// VoteDoughnut fails (status UNKNOWN, message "ERROR"): the bug the demo shows.',
    'service VotingService {',
    ...rpcs,
    '    rpc Results (ResultsRequest) returns (ResultsResponse);',
    '}',
    '',
  ].join('\n');
}
