import { describe, expect, it } from 'vitest';
import { BUDGET_QUEUE_SETTINGS } from '../../infra/budget-queue.ts';
import { functionId, ofType, only, refTarget, synthStage } from './support.ts';

const dev = synthStage('dev');
const [queueId, queue] = ofType(dev, 'AWS::SQS::Queue').find(([id]) => /^BudgetQueue[0-9A-F]{8}$/.test(id))!;
const [dlqId, dlq] = only(dev, 'AWS::SQS::Queue', 'BudgetQueueDeadLetterQueue');
const projectorId = functionId(dev, 'budget-projector');
const fanoutId = functionId(dev, 'stream-fanout');

describe('the budget queue (fan-out → projector, one message group per subscription)', () => {
  it('is FIFO with explicit deduplication (the event id), encrypted, and sends what keeps failing to a FIFO DLQ', () => {
    expect(queue.Properties).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      SqsManagedSseEnabled: true,
      VisibilityTimeout: BUDGET_QUEUE_SETTINGS.visibilityTimeout.toSeconds(),
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: BUDGET_QUEUE_SETTINGS.maxReceiveCount,
      },
    });
    expect(dlq.Properties).toMatchObject({ FifoQueue: true, MessageRetentionPeriod: 14 * 86_400 });
  });

  it('is read by the projector in batches of 10 with partial batch responses', () => {
    const mappings = ofType(dev, 'AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => refTarget(m.Properties['FunctionName']) === projectorId,
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0]![1].Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('the fan-out may send to it and knows its URL; the projector is the only reader', () => {
    const fanout = dev.resources[fanoutId]!;
    expect(fanout.Properties['Environment']).toMatchObject({
      Variables: { BUDGET_QUEUE_URL: { Ref: queueId } },
    });
    const policies = ofType(dev, 'AWS::IAM::Policy').filter(([, p]) =>
      JSON.stringify(p.Properties['PolicyDocument']).includes(queueId),
    );
    const sendsAndReads = policies.map(([, p]) => JSON.stringify(p.Properties['PolicyDocument']));
    expect(sendsAndReads.some((doc) => doc.includes('sqs:SendMessage'))).toBe(true);
    expect(sendsAndReads.filter((doc) => doc.includes('sqs:ReceiveMessage'))).toHaveLength(1);
  });

  it('names its DLQ in the outputs, for the redrive', () => {
    expect(dev.outputs['BudgetDeadLetterQueueArn']?.Value).toEqual({ 'Fn::GetAtt': [dlqId, 'Arn'] });
  });
});
