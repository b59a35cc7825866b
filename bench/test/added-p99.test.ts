/** The gateway section's added-p99 rule (bench/lib/added-p99.ts): which rounds count, and the verdict. */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { judgeAddedP99, type RoundP99 } from '../lib/added-p99.js';

/** A round whose proxies add `bare`, `gateway` and `portkey` ms to a direct p99 of 60 ms. */
const round = (bare: number, gateway: number, portkey: number): RoundP99 => ({ direct: 60, bare: 60 + bare, gateway: 60 + gateway, portkey: 60 + portkey });

describe('judgeAddedP99', () => {
  it('takes the median of the rounds’ gateway-to-Portkey ratios, with the floor’s beside it', () => {
    const verdict = judgeAddedP99([round(2, 5, 50), round(3, 9, 30), round(4, 4, 40)], 0.2);
    expect(verdict.roundRatios).toEqual([0.1, 0.3, 0.1]);
    expect(verdict.ratio).toBeCloseTo(0.1);
    expect(verdict.floorRatios).toEqual([0.04, 0.1, 0.1]);
    expect(verdict.medianAdded).toEqual({ bare: 3, gateway: 5, portkey: 40 });
    expect(verdict.disturbed).toEqual([]);
    expect(verdict.pass).toBe(true);
  });

  it('fails above the limit', () => {
    expect(judgeAddedP99([round(2, 12, 40), round(2, 10, 40)], 0.2).pass).toBe(false);
  });

  it('leaves out and names a round where the mock called directly was as slow as a proxy, which would pull the median toward passing', () => {
    // Round 2: the bare proxy's p99 below the direct one's (a machine hiccup in the direct run).
    // Counted, its ratio (−0.5) would make the median of three 0.25 → pass at 0.3; left out, 0.35 → fail.
    const rounds = [round(2, 12, 40), round(-1, -20, 40), round(2, 16, 40)];
    const verdict = judgeAddedP99(rounds, 0.3);
    expect(verdict.disturbed).toEqual([2]);
    expect(verdict.roundRatios).toEqual([0.3, 0.4]);
    expect(verdict.ratio).toBeCloseTo(0.35);
    expect(verdict.pass).toBe(false);
    // A proxy level with the direct run counts as disturbed too (its ratio would divide by zero or be 0).
    expect(judgeAddedP99([round(2, 5, 0), round(2, 0, 40)], 0.2).disturbed).toEqual([1, 2]);
  });

  it('fails when every round is left out', () => {
    const verdict = judgeAddedP99([round(-1, 2, 40), round(2, 2, -3)], 0.2);
    expect(verdict.disturbed).toEqual([1, 2]);
    expect(verdict.roundRatios).toEqual([]);
    expect(verdict.pass).toBe(false);
  });

  const added = fc.double({ min: -20, max: 80, noNaN: true });
  const rounds = fc.array(fc.record({ bare: added, gateway: added, portkey: added }).map((r) => round(r.bare, r.gateway, r.portkey)), { maxLength: 12 });

  it('counts a round exactly when every proxy is slower than the direct run', () => {
    fc.assert(
      fc.property(rounds, (rs) => {
        const verdict = judgeAddedP99(rs, 0.2);
        const counted = rs.map((r, i) => i + 1).filter((n) => !verdict.disturbed.includes(n));
        expect(counted.length).toBe(verdict.roundRatios.length);
        for (const n of counted) {
          const r = rs[n - 1]!;
          expect(Math.min(r.bare, r.gateway, r.portkey)).toBeGreaterThan(r.direct);
        }
        for (const n of verdict.disturbed) {
          const r = rs[n - 1]!;
          expect(Math.min(r.bare, r.gateway, r.portkey)).toBeLessThanOrEqual(r.direct);
        }
      }),
    );
  });

  it('gives the same verdict whatever disturbed rounds are added between the counted ones', () => {
    const disturbedRound = fc.record({ gateway: added, portkey: added }).map((r) => round(-1, r.gateway, r.portkey));
    fc.assert(
      fc.property(rounds, fc.array(fc.tuple(fc.nat(), disturbedRound), { maxLength: 5 }), (rs, inserts) => {
        const mixed = [...rs];
        for (const [at, r] of inserts) mixed.splice(at % (mixed.length + 1), 0, r);
        const before = judgeAddedP99(rs, 0.2);
        const after = judgeAddedP99(mixed, 0.2);
        expect(after.roundRatios).toEqual(before.roundRatios);
        expect(after.pass).toBe(before.pass);
        expect(after.disturbed.length).toBe(before.disturbed.length + inserts.length);
      }),
    );
  });

  it('passes only with a counted median at or under the limit', () => {
    fc.assert(
      fc.property(rounds, fc.double({ min: 0.01, max: 2, noNaN: true }), (rs, limit) => {
        const verdict = judgeAddedP99(rs, limit);
        expect(verdict.pass).toBe(verdict.roundRatios.length > 0 && verdict.ratio <= limit);
        if (verdict.roundRatios.length > 0) {
          expect(verdict.ratio).toBeGreaterThanOrEqual(Math.min(...verdict.roundRatios));
          expect(verdict.ratio).toBeLessThanOrEqual(Math.max(...verdict.roundRatios));
        }
      }),
    );
  });
});
