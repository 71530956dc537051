import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';

/**
 * The bundles benchmark's floor: what every handler must load, the DynamoDB document client and one
 * command, and nothing of ours.
 */
export const handler = async () =>
  DynamoDBDocumentClient.from(new DynamoDBClient({})).send(
    new GetCommand({ TableName: 't', Key: { pk: 'p' } }),
  );
