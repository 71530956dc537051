import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll } from 'vitest';
import { resetConfigCache } from '../../shared/config.ts';
import { resetDynamoClient } from '../../shared/store/client.ts';

/**
 * For a unit test of a store failure path: every DynamoDB call of this test file goes to a mock
 * (the document client, or the raw client with `raw`), reset after each test, and the service's
 * config points at a table named `unit`. Integration tests use the real local store instead.
 */
export function mockedStore(kind: 'document' | 'raw' = 'document') {
  const mock = kind === 'raw' ? mockClient(DynamoDBClient) : mockClient(DynamoDBDocumentClient);
  beforeAll(() => {
    Object.assign(process.env, { TABLE_NAME: 'unit', AWS_REGION: 'us-east-1' });
    resetConfigCache();
    resetDynamoClient();
  });
  afterEach(() => mock.reset());
  return mock;
}
