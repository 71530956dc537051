import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** The commands that can put a record on a table's stream, by the low-level client's names. */
export const WRITE_COMMANDS: ReadonlySet<string> = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);

/**
 * Calls `written` after every write the client makes succeeds (also through a document client built
 * on it), so the local stream poller, idle and backed off, reads the new records at once instead of
 * at its next timed pass (local/stream-poller.ts). Reads and failed writes signal nothing.
 */
export function addWriteSignal(client: DynamoDBClient, written: () => void): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (WRITE_COMMANDS.has(context.commandName ?? '')) written();
      return result;
    },
    { step: 'initialize', name: 'localWriteSignal' },
  );
}
