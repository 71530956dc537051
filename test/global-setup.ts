import type { TestProject } from 'vitest/node';
import { type LocalDynamoDb, startDynamoDbLocal } from '../local/dynamodb-local.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoDbEndpoint: string;
  }
}

let dynamoDb: LocalDynamoDb | undefined;

/** One in-memory DynamoDB Local for the integration tests; each test file creates its own tables. */
export async function setup(project: TestProject): Promise<void> {
  dynamoDb = await startDynamoDbLocal({});
  project.provide('dynamoDbEndpoint', dynamoDb.endpoint);
}

export async function teardown(): Promise<void> {
  await dynamoDb?.stop();
}
