/**
 * How the gateway section judges its added-p99 target from its rounds at 64 connections: a pure
 * function of each round's p99s, so the rule has tests of its own (bench/test/added-p99.test.ts).
 */
import { median } from './stats.js';

/** The p99 (ms) of each target in one round: the mock called directly and the three proxies before it. */
export interface RoundP99 {
  direct: number;
  bare: number;
  gateway: number;
  portkey: number;
}

export interface AddedP99Verdict {
  /** Median over the counted rounds of the gateway's added p99 over Portkey's (NaN when none is counted). */
  ratio: number;
  /** That ratio in each counted round, in order. */
  roundRatios: number[];
  /** The bare proxy's added p99 over Portkey's in each counted round: the least any gateway here could show. */
  floorRatios: number[];
  /** 1-based numbers of the rounds left out. */
  disturbed: number[];
  /** Median added p99 (ms) of each proxy over the counted rounds. */
  medianAdded: { bare: number; gateway: number; portkey: number };
  /** At most `limit` with at least one round counted. */
  pass: boolean;
}

const PROXIES = ['bare', 'gateway', 'portkey'] as const;

/**
 * A round where the mock called directly had a p99 at or above a proxy's in front of it measured
 * the machine, not the proxies: its ratio (negative, or over a zero) would pull the median toward
 * passing, so it is left out and named. The target fails when no round is left.
 */
export function judgeAddedP99(rounds: readonly RoundP99[], limit: number): AddedP99Verdict {
  const added = (r: RoundP99, t: (typeof PROXIES)[number]) => r[t] - r.direct;
  const counted: RoundP99[] = [];
  const disturbed: number[] = [];
  rounds.forEach((r, i) => (PROXIES.every((t) => added(r, t) > 0) ? counted.push(r) : disturbed.push(i + 1)));
  const roundRatios = counted.map((r) => added(r, 'gateway') / added(r, 'portkey'));
  const ratio = median(roundRatios);
  const medianOf = (t: (typeof PROXIES)[number]) => median(counted.map((r) => added(r, t)));
  return {
    ratio,
    roundRatios,
    floorRatios: counted.map((r) => added(r, 'bare') / added(r, 'portkey')),
    disturbed,
    medianAdded: { bare: medianOf('bare'), gateway: medianOf('gateway'), portkey: medianOf('portkey') },
    pass: counted.length > 0 && ratio <= limit,
  };
}
