import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { ensureTables, LOCAL_AWS } from '../../local/dynamodb-local.ts';
import { scanTable } from '../../local/tables.ts';
import { resetConfigCache } from '../../shared/config.ts';
import { resetDynamoClient } from '../../shared/store/client.ts';

/**
 * Points this test process at the shared DynamoDB Local with tables of its own, created from the
 * same definitions as the CDK stack. Returns helpers to read back what the code under test wrote.
 */
export async function useTestStore() {
  const endpoint = inject('dynamoDbEndpoint');
  const suffix = randomUUID().slice(0, 8);
  const tables = {
    billing: `billing-${suffix}`,
    budgets: `budgets-${suffix}`,
    routingPolicies: `routing-${suffix}`,
  };
  Object.assign(process.env, {
    TABLE_NAME: tables.billing,
    BUDGETS_TABLE_NAME: tables.budgets,
    ROUTING_POLICIES_TABLE_NAME: tables.routingPolicies,
    DYNAMODB_ENDPOINT: endpoint,
    AWS_REGION: LOCAL_AWS.region,
    AWS_ACCESS_KEY_ID: LOCAL_AWS.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_AWS.credentials.secretAccessKey,
  });
  resetConfigCache();
  resetDynamoClient();
  const client = new DynamoDBClient({ ...LOCAL_AWS, endpoint });
  await ensureTables(client, tables);
  return {
    tables,
    client,
    /** Every item of the billing table (small test tables only). */
    allItems: async () => (await scanTable(client, tables.billing)).items as Record<string, unknown>[],
  };
}
