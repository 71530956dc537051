import { validate } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../../shared/http/routes.ts';
import { CreateCustomerRequestSchema } from '../../../shared/schemas/customers.ts';
import { openApiDocument } from '../../../shared/schemas/openapi.ts';

describe('OpenAPI document', () => {
  const document = openApiDocument('http://localhost:3000');

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await validate(structuredClone(document) as never);
    expect(result.valid, JSON.stringify(result)).toBe(true);
    expect(document.openapi).toBe('3.1.0');
  });

  it('describes every route of the route table with its method and scopes', () => {
    for (const route of ROUTES) {
      const operation = (document.paths as Record<string, Record<string, { security?: unknown[] }>>)[
        route.path
      ]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      if (route.auth === 'jwt') expect(operation!.security).toEqual([{ bearer: [...route.scopes] }]);
    }
  });

  it('is generated from the zod schema that validates the request', () => {
    const schema = (
      document.components!.schemas as Record<string, { properties: object; required: string[] }>
    ).CreateCustomerRequest!;
    expect(Object.keys(schema.properties).sort()).toEqual(
      Object.keys(CreateCustomerRequestSchema.shape).sort(),
    );
    expect(schema.required.sort()).toEqual(['email', 'name']);
  });
});
