import type { z } from 'zod';
import { type FieldError, validationError } from '../domain/errors.ts';

/** A field path segment as written in `field`: an empty key must still show ("" rather than nothing). */
const segment = (key: PropertyKey): string => (key === '' ? '""' : String(key));

/** Turns zod issues into one error per field, named by its dotted path (`records.3.quantity`). */
export function fieldErrorsOf(error: z.ZodError, prefix?: string): FieldError[] {
  return error.issues.flatMap((issue) => {
    const path = [...(prefix ? [prefix] : []), ...issue.path.map(segment)];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: [...path, segment(key)].join('.'),
        message: 'is not a known field',
      }));
    }
    return [{ field: path.join('.') || '(body)', message: issue.message }];
  });
}

export function parseWith<T extends z.ZodType>(schema: T, value: unknown, prefix?: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(fieldErrorsOf(result.error, prefix));
  return result.data;
}

const LONE_SURROGATE = /\p{Surrogate}/u;

type Visit = { value: unknown; key: string; parent: Visit | undefined };

/**
 * The field path of a string (or key) in a parsed JSON document that is not well-formed Unicode, i.e.
 * holds a lone surrogate (`"\ud800"` is valid JSON text); undefined when there is none. Iterative,
 * so a document nested thousands deep cannot overflow the stack.
 */
export function illFormedStringIn(document: unknown): string | undefined {
  const fieldOf = (visit: Visit | undefined): string => {
    const keys: string[] = [];
    for (let at = visit; at?.parent !== undefined; at = at.parent) keys.unshift(at.key);
    return keys.join('.') || '(body)';
  };
  const stack: Visit[] = [{ value: document, key: '', parent: undefined }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const { value } = visit;
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) return fieldOf(visit);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    const entries: [string, unknown][] = Array.isArray(value)
      ? value.map((item, index) => [String(index), item])
      : Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, item] = entries[i]!;
      if (LONE_SURROGATE.test(key)) {
        // Named by its JSON escape, so the error itself stays well-formed.
        return fieldOf({ value: item, key: JSON.stringify(key).slice(1, -1), parent: visit });
      }
      stack.push({ value: item, key: segment(key), parent: visit });
    }
  }
  return undefined;
}
