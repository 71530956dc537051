import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { mintDevToken, type TokenRequest } from '../../local/dev-auth.ts';
import { LOCAL_AWS } from '../../local/dynamodb-local.ts';
import { type LocalRuntime, type LocalRuntimeOptions, startLocalRuntime } from '../../local/runtime.ts';
import { exactNumber } from '../../local/tables.ts';
import { SCOPES } from '../../shared/http/routes.ts';
import { startFakeStripe } from './fake-stripe.ts';

export type TestService = LocalRuntime & {
  token: (scopes: string[], extra?: Omit<TokenRequest, 'scopes'>) => Promise<string>;
  call: (
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> },
    // biome-ignore lint/suspicious/noExplicitAny: tests assert on response bodies field by field
  ) => Promise<{ status: number; headers: Headers; body: any }>;
  /** Every item of the billing table (all pages, strongly consistent), unmarshalled. */
  // biome-ignore lint/suspicious/noExplicitAny: tests assert on stored items field by field
  billingItems: () => Promise<Record<string, any>[]>;
  close: () => Promise<void>;
};

/** The whole local service (`npm start`), in memory on a free port, as a test drives it over HTTP. */
export async function startTestService(
  options: Pick<LocalRuntimeOptions, 'wrapHandler'> = {},
): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'billing-e2e-'));
  const runtime = await startLocalRuntime({
    port: 0,
    dataDir,
    inMemory: true,
    quiet: true,
    closePeriodsEverySeconds: 0,
    ...options,
  });
  return {
    ...runtime,
    token: (scopes, extra = {}) => mintDevToken(runtime.keys, { scopes, ...extra }),
    call: async (method, path, options = {}) => {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      let body: string | undefined = options.rawBody;
      if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(`${runtime.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, headers: response.headers, body: parsed };
    },
    billingItems: async () => {
      const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint: runtime.dynamoDbEndpoint });
      const items: Record<string, unknown>[] = [];
      let start: Record<string, AttributeValue> | undefined;
      try {
        do {
          const page = await client.send(
            new ScanCommand({
              TableName: runtime.tables.billing,
              ConsistentRead: true,
              ExclusiveStartKey: start,
            }),
          );
          items.push(...(page.Items ?? []).map((item) => unmarshall(item, { wrapNumbers: exactNumber })));
          start = page.LastEvaluatedKey;
        } while (start);
      } finally {
        client.destroy();
      }
      return items;
    },
    close: async () => {
      await runtime.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The service and an operator token with every scope: what most end-to-end files start with. */
export async function startWithOperator(): Promise<{ service: TestService; operator: string }> {
  const service = await startTestService();
  return { service, operator: await service.token(Object.values(SCOPES)) };
}

/**
 * A started service configured for Stripe against a fake Stripe of its own (keys named after the
 * test file), and an operator token; stop both with the returned `stop`.
 */
export async function startWithFakeStripe(name: string) {
  const stripe = await startFakeStripe();
  const webhookSecret = `whsec_${name}`;
  Object.assign(process.env, {
    STRIPE_SECRET_KEY: `sk_test_${name}`,
    STRIPE_WEBHOOK_SECRET: webhookSecret,
    STRIPE_API_BASE: stripe.url,
  });
  const { service, operator } = await startWithOperator();
  return {
    service,
    stripe,
    operator,
    webhookSecret,
    stop: async () => {
      await service.close();
      await stripe.stop();
    },
  };
}
