import { crossoverCheck } from '../src/index.js';

describe('crossover check', () => {
  it('warns above 0.1 % and flags above 1 %', () => {
    expect(crossoverCheck(0, 0)).toEqual({ users: 0, share: 0, warning: false, mismatch: false });
    expect(crossoverCheck(1, 1000)).toEqual({ users: 1, share: 0.001, warning: false, mismatch: false });
    expect(crossoverCheck(2, 1000)).toMatchObject({ warning: true, mismatch: false });
    expect(crossoverCheck(10, 1000)).toMatchObject({ warning: true, mismatch: false });
    expect(crossoverCheck(11, 1000)).toMatchObject({ share: 0.011, warning: true, mismatch: true });
  });
  it('refuses impossible counts', () => {
    expect(() => crossoverCheck(5, 4)).toThrow(RangeError);
    expect(() => crossoverCheck(-1, 4)).toThrow(RangeError);
  });
});
