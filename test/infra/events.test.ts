import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  SMART_GATEWAY_SYNC_RULE_PATTERN,
  THRESHOLD_INVOICING_RULE_PATTERN,
} from '../../shared/events/rules.ts';
import { type CfnResource, functionId, ofType, only, refTarget, synthStage } from './support.ts';

const dev = synthStage('dev');
const { template } = dev;
const [billingTableId] = only(dev, 'AWS::DynamoDB::Table', 'BillingTable');
const [busId, bus] = only(dev, 'AWS::Events::EventBus');
const [, mapping] = ofType(dev, 'AWS::Lambda::EventSourceMapping').find(
  ([, resource]) => resource.Properties['StartingPosition'] !== undefined,
)!;
const [ruleId, rule] = only(dev, 'AWS::Events::Rule', 'SmartGateway');
const [streamDlqId] = only(dev, 'AWS::SQS::Queue', 'EventFanoutStreamDeadLetterQueue');
const [syncDlqId] = only(dev, 'AWS::SQS::Queue', 'SmartGatewaySyncDeadLetterQueue');
const [closeDlqId] = only(dev, 'AWS::SQS::Queue', 'ClosePeriodsDeadLetterQueue');
const [scheduleId, schedule] = only(dev, 'AWS::Events::Rule', 'ClosePeriodsSchedule');
const fanoutId = functionId(dev, 'stream-fanout');
const syncId = functionId(dev, 'smart-gateway-sync');
const closeId = functionId(dev, 'close-periods');
const [thresholdRuleId, thresholdRule] = only(dev, 'AWS::Events::Rule', 'ThresholdInvoicing');
const [thresholdDlqId] = only(dev, 'AWS::SQS::Queue', 'ThresholdInvoicingThresholdInvoicingDeadLetterQueue');
const invoicerId = functionId(dev, 'usage-threshold-invoicer');

/** The queue's policy lets EventBridge send to it for that one rule only. */
function expectRuleMaySendTo(queueId: string, ruleId: string): void {
  template.hasResourceProperties('AWS::SQS::QueuePolicy', {
    Queues: [{ Ref: queueId }],
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Effect: 'Allow',
          Action: 'sqs:SendMessage',
          Principal: { Service: 'events.amazonaws.com' },
          Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } },
        }),
      ]),
    },
  });
}

describe('event bus', () => {
  it('is a dedicated bus named with the stage', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    expect(bus.Properties['Name']).toBe('billing-dev');
  });
});

describe('stream fan-out', () => {
  it('reads the billing table stream from the trim horizon in batches of 100', () => {
    expect(mapping.Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [billingTableId, 'StreamArn'] },
      FunctionName: { Ref: fanoutId },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
    });
  });

  it('reports partial batch failures and bisects failing batches', () => {
    expect(mapping.Properties).toMatchObject({
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
    });
  });

  it('retries a bounded number of times for a bounded record age', () => {
    const retries = mapping.Properties['MaximumRetryAttempts'];
    const age = mapping.Properties['MaximumRecordAgeInSeconds'];
    expect(retries).toBeTypeOf('number');
    expect(retries).toBeGreaterThanOrEqual(1);
    expect(retries).toBeLessThanOrEqual(10);
    expect(age).toBeTypeOf('number');
    expect(age).toBeGreaterThanOrEqual(60);
    // Below the stream's 24 h retention, so parked records can still be read back for a redrive.
    expect(age).toBeLessThan(24 * 60 * 60);
  });

  it('sends failed batches to an SQS dead-letter queue', () => {
    expect(mapping.Properties['DestinationConfig']).toEqual({
      OnFailure: { Destination: { 'Fn::GetAtt': [streamDlqId, 'Arn'] } },
    });
  });
});

describe('dead-letter queues', () => {
  it.each([
    ['stream', streamDlqId],
    ['sync', syncDlqId],
    ['period close', closeDlqId],
    ['threshold invoicing', thresholdDlqId],
  ])('%s DLQ is encrypted and keeps messages 14 days', (_, queueId) => {
    expect(dev.resources[queueId]?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 60 * 60,
    });
  });

  it.each([
    ['stream', streamDlqId],
    ['sync', syncDlqId],
    ['period close', closeDlqId],
  ])('%s DLQ denies non-TLS access', (_, queueId) => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('SmartGateway sync rule', () => {
  const targets = rule.Properties['Targets'] as CfnResource['Properties'][];

  it('listens on the billing bus with exactly the shared pattern', () => {
    expect(rule.Properties['EventBusName']).toEqual({ Ref: busId });
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectEquals(SMART_GATEWAY_SYNC_RULE_PATTERN),
    });
  });

  it('targets the sync Lambda with a retry policy and a dead-letter queue', () => {
    expect(targets).toHaveLength(1);
    const target = targets[0] ?? {};
    expect(refTarget(target['Arn'])).toBe(syncId);
    expect(target['DeadLetterConfig']).toEqual({ Arn: { 'Fn::GetAtt': [syncDlqId, 'Arn'] } });
    expect(target['RetryPolicy']).toEqual({
      MaximumRetryAttempts: expect.any(Number),
      MaximumEventAgeInSeconds: expect.any(Number),
    });
  });

  it('lets EventBridge, for this rule only, put undeliverable events in the DLQ', () => {
    expectRuleMaySendTo(syncDlqId, ruleId);
  });

  it('parks events whose processing keeps failing in the same DLQ (async invoke config)', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: syncId },
      MaximumRetryAttempts: Match.anyValue(),
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [syncDlqId, 'Arn'] } } },
    });
  });

  it('lets only EventBridge rule invoke the sync Lambda', () => {
    const permissions = ofType(dev, 'AWS::Lambda::Permission').filter(
      ([, permission]) => refTarget(permission.Properties['FunctionName']) === syncId,
    );
    expect(permissions.map(([, p]) => p.Properties)).toEqual([
      expect.objectContaining({
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      }),
    ]);
  });
});

describe('alarms', () => {
  it.each([
    ['stream', streamDlqId],
    ['sync', syncDlqId],
    ['period close', closeDlqId],
  ])('alarm as soon as the %s DLQ holds a message', (_, queueId) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('has no e-mail subscription when the stage sets no alarmEmail', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('threshold invoicing rule (progressive billing)', () => {
  const targets = thresholdRule.Properties['Targets'] as CfnResource['Properties'][];

  it('listens on the billing bus for usage.threshold_reached only', () => {
    expect(thresholdRule.Properties['EventBusName']).toEqual({ Ref: busId });
    expect(thresholdRule.Properties['EventPattern']).toEqual(THRESHOLD_INVOICING_RULE_PATTERN);
    expect(THRESHOLD_INVOICING_RULE_PATTERN['detail-type']).toEqual(['usage.threshold_reached']);
  });

  it('targets the invoicer with a retry policy and its own dead-letter queue', () => {
    expect(targets).toHaveLength(1);
    expect(refTarget(targets[0]?.['Arn'])).toBe(invoicerId);
    expect(targets[0]?.['DeadLetterConfig']).toEqual({ Arn: { 'Fn::GetAtt': [thresholdDlqId, 'Arn'] } });
    expectRuleMaySendTo(thresholdDlqId, thresholdRuleId);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: invoicerId },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [thresholdDlqId, 'Arn'] } } },
    });
  });
});

describe('period close schedule', () => {
  const targets = schedule.Properties['Targets'] as CfnResource['Properties'][];

  it('runs the close-periods function every hour with bounded retries', () => {
    expect(schedule.Properties['ScheduleExpression']).toBe('rate(1 hour)');
    expect(targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [closeId, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 * 60 },
      }),
    ]);
  });

  it('puts a run EventBridge could not start in its own dead-letter queue', () => {
    expect(targets[0]?.['DeadLetterConfig']).toEqual({ Arn: { 'Fn::GetAtt': [closeDlqId, 'Arn'] } });
  });

  it('lets EventBridge, for this rule only, send to that DLQ', () => {
    expectRuleMaySendTo(closeDlqId, scheduleId);
  });

  it('parks a run that keeps failing in the same DLQ, and gives up on runs older than the next one', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: closeId },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 60 * 60,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [closeDlqId, 'Arn'] } } },
    });
  });

  it('outputs the DLQ URL and the function name, for a replay by hand', () => {
    expect(dev.outputs['ClosePeriodsDeadLetterQueueUrl']?.Value).toEqual({ Ref: closeDlqId });
    expect(dev.outputs['ClosePeriodsFunctionName']?.Value).toEqual({ Ref: closeId });
  });
});
