import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';

/**
 * The bundles benchmark's second floor: the two libraries every API handler loads, the DynamoDB
 * document client and zod (with one schema parsed, so nothing of zod is shaken out that a contract
 * uses), and nothing of ours. What an API Lambda costs above it is this repository's code.
 */
const Key = z.object({ pk: z.string().min(1) }).strict();

export const handler = async (event: unknown) =>
  DynamoDBDocumentClient.from(new DynamoDBClient({})).send(
    new GetCommand({ TableName: 't', Key: Key.parse(event) }),
  );
