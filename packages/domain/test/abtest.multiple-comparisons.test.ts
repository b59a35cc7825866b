import fc from 'fast-check';
import { holmAdjust } from '../src/index.js';

describe('Holm adjustment', () => {
  it('matches a hand-worked example', () => {
    // Sorted 0.01, 0.02, 0.04 with k = 3: 0.03, max(0.03, 0.04) = 0.04, max(0.04, 0.04) = 0.04.
    expect(holmAdjust([0.04, 0.01, 0.02])).toEqual([0.04, 0.03, 0.04]);
    expect(holmAdjust([0.5, 0.6])).toEqual([1, 1]);
  });

  it('leaves untestable comparisons null and out of k', () => {
    expect(holmAdjust([null, 0.02, 0.01])).toEqual([null, 0.02, 0.02]);
    expect(holmAdjust([null])).toEqual([null]);
  });

  it('is ≥ the raw p, ≤ Bonferroni, ≤ 1, and keeps the order of the raw p-values (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 10 }), (ps) => {
        const adj = holmAdjust(ps) as number[];
        ps.forEach((p, i) => {
          expect(adj[i]).toBeGreaterThanOrEqual(p);
          expect(adj[i]).toBeLessThanOrEqual(Math.min(1, ps.length * p) + 1e-15);
          ps.forEach((q, j) => {
            if (p < q) expect(adj[i]).toBeLessThanOrEqual(adj[j]!);
          });
        });
      }),
    );
  });
});
