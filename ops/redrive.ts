import { parseArgs } from 'node:util';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { billingStackName } from '../infra/billing-stack.ts';
import { putBack, type RedriveReport, redriveQueue, republishStreamBatch } from './dead-letters.ts';

/**
 * `npm run redrive -- --stage <stage> [--queue stream|sync|both] [--region r] [--dry-run]`
 *
 * Puts what a stage's dead-letter queues hold through again (see infra/README.md): sync DLQ events
 * back on the bus, stream DLQ batches read back from the stream and published by the fan-out code
 * run here with your credentials. Needs: cloudformation:DescribeStacks, sqs:ReceiveMessage and
 * DeleteMessage on both queues, events:PutEvents on the bus, dynamodb:GetShardIterator/GetRecords
 * on the table's stream.
 */
const { values } = parseArgs({
  options: {
    stage: { type: 'string' },
    queue: { type: 'string', default: 'both' },
    region: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
  },
});
if (!values.stage || !['stream', 'sync', 'both'].includes(values.queue ?? '')) {
  console.error(
    'Usage: npm run redrive -- --stage <stage> [--queue stream|sync|both] [--region r] [--dry-run]',
  );
  process.exit(2);
}
const region = values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
const clientConfig = region ? { region } : {};
const stackName = billingStackName(values.stage);
const { Stacks } = await new CloudFormationClient(clientConfig).send(
  new DescribeStacksCommand({ StackName: stackName }),
);
const outputs = Object.fromEntries((Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
const required = (key: string): string => {
  const value = outputs[key];
  if (!value) throw new Error(`Stack ${stackName} has no output ${key}`);
  return value;
};

const sqs = new SQSClient(clientConfig);
const dryRun = values['dry-run'] ?? false;
const reports: Record<string, RedriveReport> = {};

if (values.queue !== 'stream') {
  const eventBridge = new EventBridgeClient(clientConfig);
  const busName = required('EventBusName');
  reports.sync = await redriveQueue({
    sqs,
    queueUrl: required('SyncDeadLetterQueueUrl'),
    dryRun,
    redrive: async (letter) => {
      if (letter.kind !== 'event') throw new Error('a stream batch in the sync DLQ');
      await putBack(eventBridge, busName, letter.event);
    },
  });
}

if (values.queue !== 'sync') {
  // The fan-out handler reads its configuration from the environment, as in Lambda.
  Object.assign(process.env, {
    TABLE_NAME: required('TableName'),
    EVENT_BUS_NAME: required('EventBusName'),
    ...(region ? { AWS_REGION: region } : {}),
  });
  const { handler } = (await import('../functions/stream-fanout.ts')) as {
    handler: (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>;
  };
  const streams = new DynamoDBStreamsClient(clientConfig);
  reports.stream = await redriveQueue({
    sqs,
    queueUrl: required('StreamDeadLetterQueueUrl'),
    dryRun,
    redrive: async (letter) => {
      if (letter.kind !== 'stream-batch') throw new Error('an event in the stream DLQ');
      await republishStreamBatch(streams, letter.batch, handler);
    },
  });
}

console.table(
  Object.entries(reports).map(([queue, r]) => ({
    queue,
    redriven: r.redriven,
    failed: r.failed,
    unreadable: r.unreadable,
  })),
);
for (const [queue, r] of Object.entries(reports))
  for (const error of r.errors) console.error(`${queue}: ${error}`);
if (dryRun) console.log('Dry run: nothing was put through or deleted.');
process.exit(Object.values(reports).some((r) => r.failed + r.unreadable > 0) ? 1 : 0);
