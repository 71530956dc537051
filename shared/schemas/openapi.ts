import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ROUTES } from '../http/routes.ts';
import { CONTRACTS } from './api-contracts.ts';
import { ProblemSchema } from './common.ts';

// The generator calls `.openapi()` on parameter schemas; this adds it to zod's prototypes.
extendZodWithOpenApi(z);

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: each entry of `errors` names a field',
  401: 'Missing or invalid token',
  402: 'The payment was declined; the invoice stays open',
  403: 'The token lacks the scope, or is confined to another tenant',
  404: 'No such resource (or not visible to this tenant)',
  409: 'Conflict: Idempotency-Key reused with another body, stale version, or illegal transition',
  410: 'No longer kept (usage records past their retention: the line says what they were) or expired (a hosted invoice link)',
  413: 'Request body too large',
  415: 'Request body is not application/json',
  422: 'Well-formed but cannot be applied (e.g. unknown metric, timestamp out of range, no payment method)',
  501: 'Not implemented yet',
  503: 'A dependency (e.g. Stripe) is not configured or did not answer; retrying is safe',
};

/** The OpenAPI 3.1 document, generated from the same zod schemas the handlers validate with. */
export function openApiDocument(serverUrl = '/'): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'OAuth2 access token; scopes in the `scope` claim, optional `tenant_id` claim',
  });
  registry.registerComponent('securitySchemes', 'sigv4', {
    type: 'apiKey',
    name: 'Authorization',
    in: 'header',
    description: 'AWS Signature Version 4 (IAM), for service callers such as the SmartGateway',
  });

  for (const route of ROUTES) {
    const contract = CONTRACTS[route.handler];
    if (!contract) throw new Error(`No contract for handler ${route.handler}`);
    const problemResponses = Object.fromEntries(
      contract.problems.map((status) => [
        status,
        {
          description: PROBLEM_DESCRIPTIONS[status] ?? 'Problem',
          content: contract.problemMediaType
            ? { [contract.problemMediaType]: { schema: z.string() } }
            : { 'application/problem+json': { schema: ProblemSchema } },
        },
      ]),
    );
    const documented = contract.documentedBody ?? contract.body;
    const body = documented
      ? { content: { 'application/json': { schema: documented } }, required: true }
      : contract.rawBody
        ? {
            description: contract.rawBody.description,
            content: { [contract.rawBody.mediaType]: { schema: z.record(z.string(), z.unknown()) } },
            required: true,
          }
        : undefined;
    registry.registerPath({
      method: route.method.toLowerCase() as 'get' | 'post' | 'patch' | 'put' | 'delete',
      path: route.path,
      summary: route.summary,
      operationId: `${route.handler}${route.auth === 'iam' ? '-iam' : ''}`,
      ...(route.auth === 'jwt' ? { security: [{ bearer: [...route.scopes] }] } : {}),
      ...(route.auth === 'iam' ? { security: [{ sigv4: [] }] } : {}),
      request: {
        ...(contract.params ? { params: contract.params } : {}),
        ...(contract.query ? { query: contract.query } : {}),
        ...(contract.idempotent
          ? {
              headers: z.object({
                'Idempotency-Key': z
                  .string()
                  .max(255)
                  .optional()
                  .meta({ description: 'Same key + same body within 24 h returns the first response' }),
              }),
            }
          : {}),
        ...(body ? { body } : {}),
      },
      responses: {
        [contract.success.status]: {
          description: contract.success.description,
          ...(contract.success.mediaType
            ? {
                content: {
                  [contract.success.mediaType]: { schema: z.string().meta({ format: 'binary' }) },
                },
              }
            : contract.success.schema
              ? { content: { 'application/json': { schema: contract.success.schema } } }
              : {}),
        },
        ...problemResponses,
        500: {
          description: 'Unexpected error; the request_id locates it in the logs',
          content: { 'application/problem+json': { schema: ProblemSchema } },
        },
      },
    });
  }

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Billing service API',
      version: '1.0.0',
      description:
        'Customers, catalog, subscriptions, metered usage, invoices and payments. Errors are application/problem+json.',
    },
    servers: [{ url: serverUrl }],
  });
}
