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

  it('documents the PDF and the hosted page as what they are, the hosted routes with no security', () => {
    type Operation = {
      security?: unknown[];
      responses: Record<string, { content?: Record<string, { schema: { format?: string } }> }>;
    };
    const paths = document.paths as Record<string, Record<string, Operation>>;
    const pdf = paths['/api/v1/invoices/{id}/pdf']!.get!;
    expect(Object.keys(pdf.responses['200']!.content!)).toEqual(['application/pdf']);
    expect(pdf.responses['200']!.content!['application/pdf']!.schema.format).toBe('binary');
    expect(Object.keys(pdf.responses['409']!.content!)).toEqual(['application/problem+json']);
    for (const path of ['/hosted/invoices/{token}', '/hosted/invoices/{token}/pdf']) {
      const operation = paths[path]!.get!;
      expect(operation.security, path).toBeUndefined();
      expect(Object.keys(operation.responses['410']!.content!), path).toEqual(['text/html']);
    }
    expect(Object.keys(paths['/hosted/invoices/{token}']!.get!.responses['200']!.content!)).toEqual([
      'text/html',
    ]);
  });
});
