import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../shared/domain/errors.ts';
import { parseWith } from '../../../shared/http/validation.ts';
import { CreateCustomerRequestSchema } from '../../../shared/schemas/customers.ts';

const errorsOf = (value: unknown) => {
  try {
    parseWith(CreateCustomerRequestSchema, value);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return (error as DomainError).fieldErrors.map((e) => e.field);
  }
};

describe('request validation', () => {
  it('names every invalid field, including unknown ones', () => {
    expect(errorsOf({ name: '', email: 'not-an-email', colour: 'red' }).sort()).toEqual([
      'colour',
      'email',
      'name',
    ]);
  });

  it('names nested fields by their dotted path', () => {
    expect(errorsOf({ name: 'A', email: 'a@b.example', metadata: { ok: 'x'.repeat(501) } })).toEqual([
      'metadata.ok',
    ]);
  });

  it('refuses metadata keys that would reach Object.prototype', () => {
    expect(errorsOf(JSON.parse('{"name":"A","email":"a@b.example","metadata":{"constructor":"y"}}'))).toEqual(
      ['metadata.constructor'],
    );
    // zod never copies a __proto__ key: it neither lands on the prototype nor in the output.
    const parsed = parseWith(
      CreateCustomerRequestSchema,
      JSON.parse('{"name":"A","email":"a@b.example","metadata":{"__proto__":{"polluted":"yes"}}}'),
    );
    expect(Object.getPrototypeOf(parsed.metadata)).toBe(Object.prototype);
    expect(Object.keys(parsed.metadata ?? {})).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts any well-formed customer and keeps what was sent', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 50 }).filter((s) => s.trim().length > 0),
        fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/), fc.string({ maxLength: 40 }), {
          maxKeys: 10,
        }),
        (name, metadata) => {
          const parsed = parseWith(CreateCustomerRequestSchema, { name, email: 'a@b.example', metadata });
          expect(parsed.name).toBe(name.trim());
          expect(parsed.metadata).toEqual(metadata);
        },
      ),
    );
  });
});
