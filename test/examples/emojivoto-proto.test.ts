/**
 * emojivoto's protos and emoji list agree: the committed Voting.proto is exactly what the
 * generator writes from the list, with one Vote RPC per emoji named as the original names them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EMOJI, findByShortcode, voteRpcName } from '../../examples/emojivoto/lib/emojis.js';
import { PROTO_DIR as RUNTIME_PROTO_DIR, votingProtoText } from '../../examples/emojivoto/lib/protos.js';
import { REPO_ROOT } from '../helpers/proxy.js';
import { entryFile, loadProtos, PROTO_DIR, serviceDef } from './emojivoto-helpers.js';

describe('emojivoto protos', () => {
  it('the emoji list is the original ballot: 99 distinct emoji, :joy: first and :poop: last', () => {
    assert.equal(EMOJI.length, 99);
    assert.equal(new Set(EMOJI.map((e) => e.shortcode)).size, EMOJI.length);
    assert.equal(new Set(EMOJI.map((e) => e.unicode)).size, EMOJI.length);
    for (const e of EMOJI) {
      assert.match(e.shortcode, /^:[a-z0-9_]+:$/);
      assert.ok(/^\p{Extended_Pictographic}/u.test(e.unicode), `${e.shortcode} is an emoji: ${e.unicode}`);
    }
    assert.equal(EMOJI[0]?.shortcode, ':joy:');
    assert.equal(EMOJI.at(-1)?.shortcode, ':poop:');
    assert.equal(findByShortcode(':doughnut:')?.unicode, '\u{1F369}');
    assert.equal(findByShortcode(':nope:'), undefined);
  });

  it('names the vote RPCs as the original does', () => {
    assert.equal(voteRpcName(':doughnut:'), 'VoteDoughnut');
    assert.equal(voteRpcName(':stuck_out_tongue_winking_eye:'), 'VoteStuckOutTongueWinkingEye');
    assert.equal(voteRpcName(':jack_o_lantern:'), 'VoteJackOLantern');
    assert.equal(voteRpcName(':point_up_2:'), 'VotePointUp2');
    assert.equal(voteRpcName(':100:'), 'Vote100');
    assert.equal(voteRpcName(':thumbsup:'), 'VoteThumbsup');
  });

  it('the committed Voting.proto is the one generated from the emoji list', () => {
    const committed = readFileSync(join(PROTO_DIR, 'Voting.proto'), 'utf8');
    assert.equal(committed, votingProtoText(), 'run node dist/examples/emojivoto/gen-voting-proto.js');
    const check = spawnSync(process.execPath, [entryFile('gen-voting-proto'), '--check'], {
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, check.stderr);
  });

  it('the programs find the protos from their compiled location', () => {
    assert.equal(RUNTIME_PROTO_DIR, `${join(REPO_ROOT, 'examples', 'emojivoto', 'proto')}/`);
  });

  it('VotingService has exactly one Vote RPC per emoji, plus Results', () => {
    const voting = serviceDef(loadProtos(), 'emojivoto.v1.VotingService');
    const expected = [...EMOJI.map((e) => voteRpcName(e.shortcode)), 'Results'];
    assert.deepEqual(Object.keys(voting).sort(), [...expected].sort());
    for (const name of expected) {
      const m = voting[name];
      assert.equal(m?.path, `/emojivoto.v1.VotingService/${name}`);
      assert.equal(m?.requestStream, false);
      assert.equal(m?.responseStream, false);
    }
    // The message descriptors proto-loader keeps (DescriptorProto objects) carry the names.
    const typeName = (t: object | undefined) => (t as { name?: string } | undefined)?.name;
    assert.equal(typeName(voting.VoteDoughnut?.requestType.type), 'VoteRequest');
    assert.equal(typeName(voting.VoteDoughnut?.responseType.type), 'VoteResponse');
    assert.equal(typeName(voting.Results?.responseType.type), 'ResultsResponse');
  });

  it('EmojiService has ListAll and FindByShortcode in package emojivoto.v1', () => {
    const emoji = serviceDef(loadProtos(), 'emojivoto.v1.EmojiService');
    assert.deepEqual(Object.keys(emoji).sort(), ['FindByShortcode', 'ListAll']);
    assert.equal(emoji.ListAll?.path, '/emojivoto.v1.EmojiService/ListAll');
    assert.equal(emoji.FindByShortcode?.path, '/emojivoto.v1.EmojiService/FindByShortcode');
  });
});
