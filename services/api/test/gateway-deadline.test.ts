import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { deadlineMs } from '../src/gateway/gateway.routes.js';

describe('deadlineMs', () => {
  it("takes the client's deadline (router.timeout_ms or the SDK's X-Stainless-Timeout seconds), the shorter one", () => {
    expect(deadlineMs(undefined, undefined, 600_000)).toBe(600_000);
    expect(deadlineMs(5_000, undefined, 600_000)).toBe(5_000);
    expect(deadlineMs(undefined, '30', 600_000)).toBe(30_000);
    expect(deadlineMs(5_000, '30', 600_000)).toBe(5_000);
    expect(deadlineMs(60_000, '30', 600_000)).toBe(30_000);
  });

  it('ignores a header that is not a positive number', () => {
    for (const header of ['', 'abc', '-5', '0', ['x', '1']]) expect(deadlineMs(undefined, header, 600_000)).toBe(600_000);
  });

  it('never exceeds the configured maximum and is always positive (property)', () => {
    fc.assert(
      fc.property(fc.option(fc.integer({ min: 1, max: 3_600_000 }), { nil: undefined }), fc.option(fc.string(), { nil: undefined }), fc.integer({ min: 1, max: 3_600_000 }), (router, header, max) => {
        const ms = deadlineMs(router, header, max);
        expect(ms).toBeGreaterThan(0);
        expect(ms).toBeLessThanOrEqual(max);
        if (router !== undefined) expect(ms).toBeLessThanOrEqual(router);
      }),
    );
  });
});
