import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import * as dynamodb from '@aws-sdk/client-dynamodb';
import { WRITE_COMMANDS } from '../local/write-signal.ts';
import { runConcurrently } from '../shared/concurrency.ts';
import { dynamoRaw } from '../shared/store/client.ts';
import { BILLING_TABLE, BUDGETS_TABLE, ROUTING_POLICIES_TABLE } from '../shared/store/table-definition.ts';

/**
 * The honest ceiling of an operation: the store calls it makes, recorded from the service's own
 * DynamoDB client while it runs once, then sent raw (same commands, same items, fresh keys) in the
 * same run. Whatever the service costs above that is its own overhead (HTTP, auth, validation,
 * rating, the event path), not the store's.
 */
export type StoreCall = { command: string; input: unknown };

let recorders = 0;

/**
 * The store calls (low-level commands, inputs as sent) the service makes while `during` runs, and
 * the most it had in flight at once (how parallel its own pattern is). `only: 'own'` keeps the calls
 * `during` itself made (its async context), leaving out work that runs beside it in the process (the
 * local event path); a call through HTTP is handled in the server's context, so it needs 'all'.
 */
export async function recordStoreCalls(
  during: () => Promise<unknown>,
  only: 'own' | 'all' = 'all',
): Promise<StoreCall[] & { peakInFlight: number }> {
  const context = new AsyncLocalStorage<true>();
  const client = dynamoRaw();
  const calls = Object.assign([] as StoreCall[], { peakInFlight: 0 });
  let inFlight = 0;
  const name = `benchStoreCallRecorder${++recorders}`;
  client.middlewareStack.add(
    (next) => async (args) => {
      if (only === 'own' && !context.getStore()) return next(args);
      // The request as it goes on the wire: DynamoDB's JSON protocol body is the low-level input.
      const request = args.request as { headers: Record<string, string>; body: string | Uint8Array };
      const operation = request.headers['x-amz-target']?.split('.')[1];
      const body = typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body);
      calls.push({ command: `${operation}Command`, input: JSON.parse(body) });
      calls.peakInFlight = Math.max(calls.peakInFlight, ++inFlight);
      try {
        return await next(args);
      } finally {
        inFlight--;
      }
    },
    { step: 'build', name },
  );
  try {
    await context.run(true, during);
  } finally {
    client.middlewareStack.remove(name);
  }
  return calls;
}

let readCounters = 0;

/**
 * The items the store read (each Query's and Scan's ScannedCount: read, whether or not a filter then
 * dropped them) for the calls `during` makes, beside what it returns.
 */
export async function itemsReadBy<T>(during: () => Promise<T>): Promise<{ result: T; read: number }> {
  const client = dynamoRaw();
  let read = 0;
  const name = `benchItemsRead${++readCounters}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const output = await next(args);
      if (context.commandName === 'QueryCommand' || context.commandName === 'ScanCommand')
        read += (output.output as { ScannedCount?: number }).ScannedCount ?? 0;
      return output;
    },
    { step: 'initialize', name },
  );
  try {
    return { result: await during(), read };
  } finally {
    client.middlewareStack.remove(name);
  }
}

type CommandClass = new (input: unknown) => Parameters<DynamoDBClient['send']>[0];

/**
 * Sends `calls` again with `rename` applied to each input's JSON (fresh keys), in their order; a run
 * of the same command goes `parallel` at a time, as the service sends them (its usage transactions
 * and its reads of several items run 4 at a time: shared/store/usage-repository.ts).
 */
export async function replayStoreCalls(
  client: DynamoDBClient,
  calls: readonly StoreCall[],
  rename: (json: string) => string,
  parallel = 4,
): Promise<void> {
  for (let start = 0; start < calls.length; ) {
    let end = start + 1;
    while (end < calls.length && calls[end]!.command === calls[start]!.command) end++;
    const run = calls.slice(start, end);
    await runConcurrently(run.length, parallel, async (i) => {
      const call = run[i]!;
      const Command = (dynamodb as unknown as Record<string, CommandClass>)[call.command];
      if (!Command) throw new Error(`Cannot replay ${call.command}: not a DynamoDB command`);
      const input = JSON.parse(rename(JSON.stringify(call.input))) as { ClientRequestToken?: string };
      // A transaction's idempotency token is the request's own: a replay is a new request.
      if (input.ClientRequestToken) input.ClientRequestToken = randomUUID();
      await client.send(new Command(input));
    });
    start = end;
  }
}

/** Every partition key of the service's tables and indexes: a write's fresh item gets new ones. */
const PARTITION_KEYS: ReadonlySet<string> = new Set([
  BILLING_TABLE.partitionKey,
  ...BILLING_TABLE.globalSecondaryIndexes.map((index) => index.partitionKey),
  BUDGETS_TABLE.partitionKey,
  ROUTING_POLICIES_TABLE.partitionKey,
]);

/**
 * Sends `calls` again, `concurrency` at a time in any order, for an operation whose writes cannot
 * simply repeat (a close's invoice exists once it is written): reads go as recorded, to the same
 * items; writes go to fresh items (every written PK prefixed with `prefix`) without their
 * conditions, which name versions those fresh items do not have (a ConditionCheck, which writes
 * nothing, is left out of its transaction). What remains is the store's share of the operation:
 * the same reads, the same number of writes of the same items, the same transactions. The fresh
 * items stay in the store (an update may still place one in an index): replay after the checks.
 */
export async function replayWithFreshWrites(
  client: DynamoDBClient,
  calls: readonly StoreCall[],
  prefix: string,
  concurrency: number,
): Promise<void> {
  await runConcurrently(calls.length, concurrency, async (i) => {
    const call = calls[i]!;
    if (!WRITE_COMMANDS.has(call.command)) return replayStoreCalls(client, [call], (json) => json);
    const input = JSON.parse(JSON.stringify(call.input)) as Record<string, unknown> & {
      TransactItems?: Record<string, Record<string, unknown>>[];
    };
    const fresh = (write: Record<string, unknown>) => {
      delete write.ConditionExpression;
      delete write.ReturnValuesOnConditionCheckFailure;
      const item = (write.Item ?? write.Key) as Record<string, { S?: string }> | undefined;
      for (const [name, value] of Object.entries(item ?? {})) {
        if (PARTITION_KEYS.has(name) && value.S !== undefined) value.S = `${prefix}${value.S}`;
      }
      // Attribute names and values only the condition used would be refused as unused.
      for (const field of ['ExpressionAttributeNames', 'ExpressionAttributeValues'] as const) {
        const used = `${write.UpdateExpression ?? ''} ${write.ProjectionExpression ?? ''}`;
        const entries = write[field] as Record<string, unknown> | undefined;
        if (!entries) continue;
        for (const name of Object.keys(entries)) {
          if (!new RegExp(`${name}(?![A-Za-z0-9_])`).test(used)) delete entries[name];
        }
        if (Object.keys(entries).length === 0) delete write[field];
      }
    };
    if (input.TransactItems) {
      input.TransactItems = input.TransactItems.filter((item) => !item.ConditionCheck);
      for (const item of input.TransactItems) fresh(Object.values(item)[0]!);
      if (input.TransactItems.length === 0) return;
    } else {
      fresh(input);
    }
    await replayStoreCalls(client, [{ command: call.command, input }], (json) => json);
  });
}

/** "12 GetItem, 3 Query, …": how many calls of each command. */
export function countByCommand(calls: readonly StoreCall[]): string {
  const counts = new Map<string, number>();
  for (const call of calls) {
    const name = call.command.replace(/Command$/, '');
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].map(([name, count]) => `${count} ${name}`).join(', ');
}
