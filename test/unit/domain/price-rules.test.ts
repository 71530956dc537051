import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PriceTier } from '../../../shared/domain/catalog.ts';
import { DomainError } from '../../../shared/domain/errors.ts';
import { archivedPrice, MAX_TIERS, newPrice, tierIssues } from '../../../shared/domain/price-rules.ts';
import { parseWith } from '../../../shared/http/validation.ts';
import { CreatePriceRequestSchema } from '../../../shared/schemas/catalog.ts';

const decimal = fc
  .tuple(fc.stringMatching(/^\d{1,12}$/), fc.option(fc.stringMatching(/^\d{1,12}$/), { nil: undefined }))
  .map(([whole, fraction]) => (fraction === undefined ? whole : `${whole}.${fraction}`));

const tier = (up_to: number | null) =>
  fc.record({
    up_to: fc.constant(up_to),
    unit_amount_decimal: decimal,
    flat_amount: fc.nat({ max: 1_000_000 }),
  });

/** A well-formed ladder: strictly increasing bounds, then one unbounded tier. */
const validTiers: fc.Arbitrary<PriceTier[]> = fc
  .uniqueArray(fc.integer({ min: 1, max: 1_000_000_000 }), { maxLength: MAX_TIERS - 1 })
  .map((bounds) => [...bounds.sort((a, b) => a - b), null])
  .chain((bounds) => fc.tuple(...bounds.map(tier)));

/** Field errors the create-price schema reports for a tiered price with these tiers. */
const fieldsRefused = (tiers: unknown): string[] => {
  try {
    parseWith(CreatePriceRequestSchema, {
      plan_id: 'plan-1',
      model: 'tiered_volume',
      metric: 'calls',
      tiers,
    });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return (error as DomainError).fieldErrors.map((e) => e.field);
  }
};

describe('the tier ladder rule', () => {
  it('accepts any ladder whose bounds strictly increase and whose last tier alone is unbounded', () => {
    fc.assert(
      fc.property(validTiers, (tiers) => {
        expect(tierIssues(tiers)).toEqual([]);
        expect(fieldsRefused(tiers)).toEqual([]);
      }),
    );
  });

  it('refuses a non-last tier without a bound, naming that tier', () => {
    fc.assert(
      fc.property(
        validTiers.filter((t) => t.length >= 2),
        fc.nat(),
        (tiers, pick) => {
          const index = pick % (tiers.length - 1);
          const broken = tiers.map((t, i) => (i === index ? { ...t, up_to: null } : t));
          expect(fieldsRefused(broken)).toEqual([`tiers.${index}.up_to`]);
        },
      ),
    );
  });

  it('refuses a bound that does not exceed the previous one, naming that tier', () => {
    fc.assert(
      fc.property(
        validTiers.filter((t) => t.length >= 3),
        fc.nat(),
        fc.nat(),
        (tiers, pick, below) => {
          // A bounded tier after the first: indexes 1 .. length-2.
          const index = 1 + (pick % (tiers.length - 2));
          const previous = tiers[index - 1]!.up_to!;
          const broken = tiers.map((t, i) => (i === index ? { ...t, up_to: 1 + (below % previous) } : t));
          expect(fieldsRefused(broken)).toEqual([`tiers.${index}.up_to`]);
          expect(tierIssues(broken).map((issue) => issue.index)).toEqual([index]);
        },
      ),
    );
  });

  it('refuses a bounded last tier, naming it', () => {
    fc.assert(
      fc.property(validTiers, fc.integer({ min: 1, max: 1_000 }), (tiers, extra) => {
        const last = tiers.length - 1;
        const previous = tiers[last - 1]?.up_to ?? 0;
        const broken = tiers.map((t, i) => (i === last ? { ...t, up_to: previous + extra } : t));
        expect(fieldsRefused(broken)).toEqual([`tiers.${last}.up_to`]);
      }),
    );
  });

  it('refuses an empty ladder and one longer than the limit', () => {
    expect(fieldsRefused([])).toEqual(['tiers']);
    const tooMany = Array.from({ length: MAX_TIERS + 1 }, (_, i) => ({
      up_to: i === MAX_TIERS ? null : i + 1,
      unit_amount_decimal: '1',
    }));
    expect(fieldsRefused(tooMany)).toEqual(['tiers']);
  });
});

describe('building and archiving a price', () => {
  const now = new Date('2026-11-01T00:00:00.000Z');

  it('stores every Price field, null where the model does not use it, and defaults flat_amount to 0', () => {
    const input = parseWith(CreatePriceRequestSchema, {
      plan_id: 'plan-1',
      model: 'tiered_graduated',
      metric: 'calls',
      tiers: [
        { up_to: 100, unit_amount_decimal: '0' },
        { up_to: null, unit_amount_decimal: '0.5', flat_amount: 200 },
      ],
    });
    expect(newPrice(input, 'EUR', 'price-1', now)).toEqual({
      id: 'price-1',
      plan_id: 'plan-1',
      product_id: null,
      currency: 'EUR',
      model: 'tiered_graduated',
      metric: 'calls',
      unit_amount: null,
      unit_amount_decimal: null,
      package_size: null,
      tiers: [
        { up_to: 100, unit_amount_decimal: '0', flat_amount: 0 },
        { up_to: null, unit_amount_decimal: '0.5', flat_amount: 200 },
      ],
      nickname: null,
      active: true,
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
      version: 1,
    });
  });

  it('archiving makes an active price inactive at the next version, and an archived price cannot be archived', () => {
    const flat = newPrice({ plan_id: 'p', model: 'flat', unit_amount: 900 }, 'USD', 'price-2', now);
    const later = new Date('2026-11-02T00:00:00.000Z');
    const archived = archivedPrice(flat, later);
    expect(archived).toMatchObject({ active: false, version: 2, updated_at: later.toISOString() });
    expect(() => archivedPrice(archived, later)).toThrow(
      expect.objectContaining({ kind: 'invalid-state-transition' }),
    );
  });
});
