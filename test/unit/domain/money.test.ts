import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apportion, CURRENCY_EXPONENTS, formatMinorUnits, isPercent } from '../../../shared/domain/money.ts';

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

describe('formatMinorUnits (how documents print amounts)', () => {
  it('prints worked examples at each currency’s decimal places, grouped by thousands', () => {
    expect(formatMinorUnits(0, 'USD')).toBe('0.00');
    expect(formatMinorUnits(5, 'EUR')).toBe('0.05');
    expect(formatMinorUnits(-123_456, 'EUR')).toBe('-1,234.56');
    expect(formatMinorUnits(100_000_000, 'USD')).toBe('1,000,000.00');
    expect(formatMinorUnits(5_000, 'JPY')).toBe('5,000');
    expect(formatMinorUnits(1_234_567, 'BHD')).toBe('1,234.567');
    expect(formatMinorUnits(7, 'KWD')).toBe('0.007');
    expect(formatMinorUnits(Number.MAX_SAFE_INTEGER, 'USD')).toBe('90,071,992,547,409.91');
  });

  it('refuses what is not a safe integer of minor units, and a currency it has no exponent for', () => {
    expect(() => formatMinorUnits(1.5, 'USD')).toThrow(RangeError);
    expect(() => formatMinorUnits(2 ** 53, 'USD')).toThrow(RangeError);
    expect(() => formatMinorUnits(100, 'XXX')).toThrow(/currency XXX/);
  });

  it('reads back as the same amount: digits with the point moved by the exponent (BigInt, no float)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom(...Object.keys(CURRENCY_EXPONENTS)),
        (amount, currency) => {
          const text = formatMinorUnits(amount, currency);
          const exponent = CURRENCY_EXPONENTS[currency]!;
          const [whole, fraction = ''] = text.replace(/^-/, '').split('.');
          expect(fraction.length).toBe(exponent);
          // Groups of three after the first, and no leading zero unless the whole part is 0.
          expect(whole).toMatch(/^(0|[1-9]\d{0,2}(,\d{3})*)$/);
          const back = BigInt(whole!.replaceAll(',', '') + fraction) * (text.startsWith('-') ? -1n : 1n);
          expect(back).toBe(BigInt(amount));
          expect(text.startsWith('-')).toBe(amount < 0);
        },
      ),
    );
  });
});
