import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { config } from '../config.ts';

let documentClient: DynamoDBDocumentClient | undefined;

/** One DynamoDB document client per process, created on first use (keeps Lambda init short). */
export function dynamo(): DynamoDBDocumentClient {
  if (!documentClient) {
    const { region, dynamoDbEndpoint } = config();
    const client = new DynamoDBClient({
      region,
      ...(dynamoDbEndpoint ? { endpoint: dynamoDbEndpoint } : {}),
    });
    documentClient = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }
  return documentClient;
}

/** For tests and the local runtime, which may point the process at another store. */
export function resetDynamoClient(): void {
  documentClient = undefined;
}
