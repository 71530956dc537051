import { describe, expect, it } from 'vitest';
import { BudgetPolicyRequestSchema } from '../../../shared/schemas/budget.ts';

/** A bad budget policy is refused naming the entry to fix, not the whole list. */
const issues = (policy: unknown) =>
  (BudgetPolicyRequestSchema.safeParse(policy).error?.issues ?? []).map((issue) => ({
    path: issue.path.join('.'),
    message: issue.message,
  }));

describe('budget policy requests', () => {
  it('a repeated threshold is named by its index and says which it repeats', () => {
    expect(
      issues({ enforcement: 'hard', thresholds: [{ percent: 50 }, { percent: 80 }, { percent: 50 }] }),
    ).toEqual([{ path: 'thresholds.2', message: expect.stringContaining('repeats thresholds.0 (50%)') }]);
  });

  it('invoice thresholds must ascend: the first out of order is named', () => {
    expect(issues({ enforcement: 'hard', invoice_thresholds: [1000, 5000, 5000] })).toEqual([
      { path: 'invoice_thresholds.2', message: expect.stringContaining('must be above 5000') },
    ]);
    expect(issues({ enforcement: 'hard', invoice_thresholds: [0] })[0]?.path).toBe('invoice_thresholds.0');
  });

  it('a good policy parses, with no invoice thresholds unless set', () => {
    expect(BudgetPolicyRequestSchema.parse({ enforcement: 'soft' })).toEqual({
      enforcement: 'soft',
      thresholds: [],
      invoice_thresholds: [],
    });
    expect(
      BudgetPolicyRequestSchema.parse({ enforcement: 'hard', invoice_thresholds: [100, 200] })
        .invoice_thresholds,
    ).toEqual([100, 200]);
  });
});
