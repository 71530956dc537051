import { describe, expect, it } from 'vitest';
import { apportion, isPercent } from '../../../shared/domain/money.ts';

describe('apportion (largest remainder)', () => {
  it('10 over three equal shares: 4, 3, 3 (the tie goes to the earlier share)', () => {
    expect(apportion(10n, [10n, 10n, 10n], 3n)).toEqual([4n, 3n, 3n]);
  });

  it('gives the extra units to the largest fractions: 100 over 1/6, 2/6, 3/6 is 17, 33, 50', () => {
    expect(apportion(100n, [100n, 200n, 300n], 6n)).toEqual([17n, 33n, 50n]);
  });

  it('refuses a total that would move a share more than one unit from exact', () => {
    expect(() => apportion(13n, [10n, 10n, 10n], 3n)).toThrow(/cannot be apportioned/);
    expect(() => apportion(8n, [10n, 10n, 10n], 3n)).toThrow(/cannot be apportioned/);
    expect(() => apportion(1n, [1n], 0n)).toThrow(/positive denominator/);
  });
});

describe('isPercent', () => {
  it('takes "0" to "100" with at most 4 places, and nothing else', () => {
    for (const good of ['0', '7', '19', '8.875', '100', '100.0', '0.0001'])
      expect(isPercent(good)).toBe(true);
    for (const bad of ['100.0001', '-1', '05', '1e1', '', ' 1', '1.23456', 7])
      expect(isPercent(bad)).toBe(false);
  });
});
