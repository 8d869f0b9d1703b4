/**
 * The voting service: an in-memory poll, one `Vote<Name>` RPC per emoji and `Results`.
 * `VoteDoughnut` fails with status UNKNOWN and message "ERROR" (by default every time; see
 * FAILURE_RATE), which is the failure the demo shows in a mesh's metrics.
 */
import * as grpc from '@grpc/grpc-js';
import { DOUGHNUT, EMOJI, voteRpcName } from './emojis.js';
import type { Logger } from './main.js';
import {
  loadVotingService,
  type ResultsRequest,
  type ResultsResponse,
  type VoteRequest,
  type VoteResponse,
  type VotingResult,
} from './protos.js';

/** Votes per shortcode, in memory (a restart forgets them, as the original does). */
export class Poll {
  private readonly votes = new Map<string, number>();

  vote(shortcode: string): number {
    const n = (this.votes.get(shortcode) ?? 0) + 1;
    this.votes.set(shortcode, n);
    return n;
  }

  /** Every shortcode with a vote, most votes first (ties by shortcode, so the order is stable). */
  results(): VotingResult[] {
    return [...this.votes]
      .map(([Shortcode, Votes]) => ({ Shortcode, Votes }))
      .sort(
        (a, b) => b.Votes - a.Votes || (a.Shortcode < b.Shortcode ? -1 : a.Shortcode > b.Shortcode ? 1 : 0),
      );
  }
}

export interface VotingOptions {
  /** Probability that a VoteDoughnut call fails (FAILURE_RATE). */
  failureRate: number;
  /** Delay before each vote is counted (ARTIFICIAL_DELAY), in ms. */
  artificialDelayMs: number;
  /** [0, 1) random numbers; Math.random by default. */
  random?: () => number;
}

export function createVotingServer(log: Logger, options: VotingOptions): { server: grpc.Server; poll: Poll } {
  const poll = new Poll();
  const random = options.random ?? Math.random;

  const count = (shortcode: string, cb: grpc.sendUnaryData<VoteResponse>): void => {
    const done = () => {
      const votes = poll.vote(shortcode);
      log.info({ shortcode, votes }, 'voted');
      cb(null, {});
    };
    if (options.artificialDelayMs <= 0) done();
    else setTimeout(done, options.artificialDelayMs);
  };

  const handlers: grpc.UntypedServiceImplementation = {};
  for (const { shortcode } of EMOJI) {
    const vote: grpc.handleUnaryCall<VoteRequest, VoteResponse> = (_call, cb) => {
      if (shortcode === DOUGHNUT && options.failureRate > 0 && random() < options.failureRate) {
        log.warn({ shortcode, failureRate: options.failureRate }, 'failing the vote for doughnut');
        cb({ code: grpc.status.UNKNOWN, details: 'ERROR' });
        return;
      }
      count(shortcode, cb);
    };
    handlers[voteRpcName(shortcode)] = vote;
  }
  const results: grpc.handleUnaryCall<ResultsRequest, ResultsResponse> = (_call, cb) => {
    cb(null, { results: poll.results() });
  };
  handlers.Results = results;

  const server = new grpc.Server();
  server.addService(loadVotingService() as unknown as grpc.ServiceDefinition, handlers);
  return { server, poll };
}
