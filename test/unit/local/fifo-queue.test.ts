import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL_AWS } from '../../../local/dynamodb-local.ts';
import { type LocalFifoQueue, startLocalFifoQueue } from '../../../local/fifo-queue.ts';

let queue: LocalFifoQueue | undefined;
afterEach(async () => {
  await queue?.stop();
  queue = undefined;
});

/** Sends bodies to a group through the real SDK client, as the fan-out does. */
async function send(
  q: LocalFifoQueue,
  group: string,
  bodies: string[],
  dedup = (b: string) => `${group}-${b}`,
) {
  const client = new SQSClient({ ...LOCAL_AWS, endpoint: q.endpoint });
  const response = await client.send(
    new SendMessageBatchCommand({
      QueueUrl: q.url,
      Entries: bodies.map((body, i) => ({
        Id: String(i),
        MessageBody: body,
        MessageGroupId: group,
        MessageDeduplicationId: dedup(body),
      })),
    }),
  );
  client.destroy();
  return response;
}

describe('the local SQS FIFO queue', () => {
  it('delivers each group in the order sent, one batch at a time, groups side by side; sends during a batch come after it', async () => {
    const seen: string[][] = [];
    let running = new Set<string>();
    let overlapped = false;
    queue = await startLocalFifoQueue({
      name: 'q.fifo',
      batchSize: 3,
      consume: async (event: SQSEvent) => {
        const group = event.Records[0]!.attributes.MessageGroupId!;
        if (running.has(group)) overlapped = true;
        running = new Set([...running, group]);
        await new Promise((resolve) => setTimeout(resolve, 20));
        seen.push(event.Records.map((r) => `${r.attributes.MessageGroupId}:${r.body}`));
        running.delete(group);
        return { batchItemFailures: [] };
      },
    });
    const taken = await send(queue, 'a', ['1', '2', '3', '4']);
    expect(taken.Successful).toHaveLength(4);
    await send(queue, 'b', ['1']);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await send(queue, 'a', ['5', '6']); // while a's first batch runs
    await queue.idle();
    expect(overlapped).toBe(false);
    const ofA = seen.flat().filter((m) => m.startsWith('a:'));
    expect(ofA).toEqual(['a:1', 'a:2', 'a:3', 'a:4', 'a:5', 'a:6']);
    expect(seen.every((batch) => batch.length <= 3)).toBe(true);
    expect(seen.flat()).toContain('b:1');
  });

  it('redelivers a failed message and the ones after it, in order; after maxReceiveCount they are dead-lettered (each counts its receives, as in SQS) and the group goes on', async () => {
    const deliveries: string[] = [];
    queue = await startLocalFifoQueue({
      name: 'q.fifo',
      maxReceiveCount: 3,
      retryDelayMs: 1,
      consume: async (event) => {
        deliveries.push(event.Records.map((r) => r.body).join(','));
        const poisoned = event.Records.findIndex((r) => r.body === 'bad');
        if (poisoned < 0) return { batchItemFailures: [] };
        return {
          batchItemFailures: event.Records.slice(poisoned).map((r) => ({ itemIdentifier: r.messageId })),
        };
      },
    });
    await send(queue, 'a', ['ok1', 'bad', 'ok2']);
    await queue.idle();
    expect(deliveries).toEqual(['ok1,bad,ok2', 'bad,ok2', 'bad,ok2']);
    expect(queue.deadLetters().map((m) => m.body)).toEqual(['bad', 'ok2']);
    await send(queue, 'a', ['ok3']);
    await queue.idle();
    expect(deliveries.at(-1)).toBe('ok3');
  });

  it('drops a deduplication id seen within five minutes, and answers it as sent', async () => {
    const bodies: string[] = [];
    queue = await startLocalFifoQueue({
      name: 'q.fifo',
      consume: async (event) => {
        bodies.push(...event.Records.map((r) => r.body));
        return { batchItemFailures: [] };
      },
    });
    await send(queue, 'a', ['x'], () => 'same');
    const again = await send(queue, 'a', ['y'], () => 'same');
    expect(again.Successful).toHaveLength(1);
    await queue.idle();
    expect(bodies).toEqual(['x']);
  });

  it('a redrive sends dead letters back to their group', async () => {
    let failing = true;
    queue = await startLocalFifoQueue({
      name: 'q.fifo',
      maxReceiveCount: 1,
      consume: async (event) => ({
        batchItemFailures: failing ? event.Records.map((r) => ({ itemIdentifier: r.messageId })) : [],
      }),
    });
    await send(queue, 'a', ['m']);
    await queue.idle();
    expect(queue.deadLetters()).toHaveLength(1);
    failing = false;
    expect(await queue.redrive()).toEqual({ redriven: 1, still_dead: 0 });
  });
});
