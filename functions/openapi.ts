import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { observedHandler } from '../shared/observability.ts';
import { openApiDocument } from '../shared/schemas/openapi.ts';

let document: string | undefined;

/** Public: the API description carries no data. Generated once per container. */
export const handler = observedHandler(
  async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    const host = event.headers?.host;
    const proto = event.headers?.['x-forwarded-proto'] ?? 'https';
    document ??= JSON.stringify(openApiDocument(host ? `${proto}://${host}` : '/'));
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: document };
  },
);
