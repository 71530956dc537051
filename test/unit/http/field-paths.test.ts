import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DomainError } from '../../../shared/domain/errors.ts';
import { parseWith } from '../../../shared/http/validation.ts';
import { ListQuerySchema, MetadataSchema } from '../../../shared/schemas/common.ts';

const fieldsOf = (schema: z.ZodType, value: unknown) => {
  try {
    parseWith(schema, value);
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return (error as DomainError).fieldErrors.map((e) => e.field);
  }
  throw new Error('expected a validation error');
};

describe('every validation error names its field, even an empty key', () => {
  // Found by the fuzz: GET /customers?=1 answered errors [{"field":"","message":"is not a known field"}].
  it('names an unknown empty key ""', () => {
    expect(fieldsOf(ListQuerySchema, { '': '1' })).toEqual(['""']);
    expect(fieldsOf(z.strictObject({ a: z.strictObject({}) }), { a: { '': 1 } })).toEqual(['a.""']);
  });

  it('names an invalid value under an empty key', () => {
    expect(fieldsOf(z.strictObject({ metadata: MetadataSchema }), { metadata: { '': 'x' } })).toEqual([
      'metadata.""',
    ]);
    expect(fieldsOf(z.record(z.string(), z.number()), { '': 'x' })).toEqual(['""']);
  });
});
