/**
 * Run as a script (`tsx test/support/xray-modules.ts`): invokes one observed handler, then prints how
 * many modules of the X-Ray SDK the process has loaded, so a test can tell whether tracing's async
 * hooks came in with the handler.
 */
import { createRequire } from 'node:module';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { handler } from '../../functions/openapi.ts';

const event = {
  rawPath: '/api/v1/openapi.json',
  headers: {},
  requestContext: { http: { method: 'GET' } },
} as unknown as APIGatewayProxyEventV2;
handler(event, {} as Context)
  .catch(() => undefined)
  .then(() => {
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) =>
      path.includes('aws-xray-sdk-core'),
    );
    console.log(loaded.length);
  });
