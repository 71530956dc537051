import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { config } from '../config.ts';

let documentClient: DynamoDBDocumentClient | undefined;
let rawClient: DynamoDBClient | undefined;
let configure: ((client: DynamoDBClient) => void) | undefined;

/** One DynamoDB document client per process, created on first use (keeps Lambda init short). */
export function dynamo(): DynamoDBDocumentClient {
  if (!documentClient) {
    const { region, dynamoDbEndpoint } = config();
    const client = new DynamoDBClient({
      region,
      ...(dynamoDbEndpoint ? { endpoint: dynamoDbEndpoint } : {}),
    });
    configure?.(client);
    rawClient = client;
    documentClient = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }
  return documentClient;
}

/**
 * The low-level client under the document client, for reads that must keep DynamoDB numbers as
 * exact decimal strings (usage quantities) instead of JavaScript numbers.
 */
export function dynamoRaw(): DynamoDBClient {
  dynamo();
  return rawClient!;
}

/** For tests and the local runtime, which may point the process at another store. */
export function resetDynamoClient(): void {
  documentClient = undefined;
  rawClient = undefined;
}

/**
 * For the local runtime: a step every client made here from now on goes through (DynamoDB Local's
 * commit barrier, local/commit-barrier.ts); undefined removes it.
 */
export function configureDynamoClients(step: ((client: DynamoDBClient) => void) | undefined): void {
  configure = step;
  resetDynamoClient();
}
