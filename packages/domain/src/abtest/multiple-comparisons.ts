/**
 * Holm's step-down adjustment (Holm 1979) of the p-values of one family of tests — here, the k
 * treatments of a test each compared with the control on one metric. It controls the chance of
 * any false positive in the family at α (as Bonferroni does) and is uniformly more powerful:
 * sorted ascending p₍₁₎ ≤ … ≤ p₍ₖ₎,
 *   p̃₍ᵢ₎ = min(1, max_{j ≤ i} (k − j + 1)·p₍ⱼ₎).
 * Rejecting where p̃ < α is Holm's procedure. A null p-value (untestable) is left null and does not
 * count in k: a comparison that cannot be made cannot produce a false positive.
 */
import type { MaybeNumber } from './statistics.js';

export function holmAdjust(pValues: readonly MaybeNumber[]): MaybeNumber[] {
  const tested = pValues
    .map((p, index) => ({ p, index }))
    .filter((x): x is { p: number; index: number } => x.p !== null)
    .sort((a, b) => a.p - b.p || a.index - b.index);
  const k = tested.length;
  const adjusted: MaybeNumber[] = pValues.map(() => null);
  let running = 0;
  tested.forEach(({ p, index }, i) => {
    running = Math.max(running, Math.min(1, (k - i) * p));
    adjusted[index] = running;
  });
  return adjusted;
}
