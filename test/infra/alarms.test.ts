import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ITERATOR_AGE_ALARM } from '../../infra/alarms.ts';
import { ALL_HANDLERS, BACKGROUND_HANDLERS, ROUTES } from '../../shared/http/routes.ts';
import {
  type CfnResource,
  functionId,
  ofType,
  only,
  refTarget,
  type Synthesized,
  synthStage,
} from './support.ts';

const dev = synthStage('dev');
const prod = synthStage('prod', { alarmEmail: 'billing-oncall@example.com' });

const alarmsOf = (synth: Synthesized) => ofType(synth, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm);

/** Alarms on one metric whose dimensions are exactly `{ name: value }`. */
function alarmsOn(synth: Synthesized, namespace: string, metricName: string, name: string, value: unknown) {
  return alarmsOf(synth).filter(
    (alarm) =>
      alarm.Properties['Namespace'] === namespace &&
      alarm.Properties['MetricName'] === metricName &&
      JSON.stringify(alarm.Properties['Dimensions']) === JSON.stringify([{ Name: name, Value: value }]),
  );
}

const functionAlarms = (synth: Synthesized, handler: string, metricName: string) =>
  alarmsOn(synth, 'AWS/Lambda', metricName, 'FunctionName', { Ref: functionId(synth, handler) });

const dlqIds = (synth: Synthesized) => [
  only(synth, 'AWS::SQS::Queue', 'EventFanoutStreamDeadLetterQueue')[0],
  only(synth, 'AWS::SQS::Queue', 'SmartGatewaySyncDeadLetterQueue')[0],
  only(synth, 'AWS::SQS::Queue', 'ClosePeriodsDeadLetterQueue')[0],
  only(synth, 'AWS::SQS::Queue', 'BudgetQueueDeadLetterQueue')[0],
  only(synth, 'AWS::SQS::Queue', 'ThresholdInvoicingThresholdInvoicingDeadLetterQueue')[0],
];

describe.each([
  ['dev', dev],
  ['prod', prod],
])('alarms (%s)', (_, synth) => {
  const [topicId] = only(synth, 'AWS::SNS::Topic');

  it('has one alarm topic, whose ARN is the AlarmTopicArn output', () => {
    expect(refTarget(synth.outputs['AlarmTopicArn']?.Value)).toBe(topicId);
  });

  it('every alarm notifies that topic, and only it', () => {
    const alarms = alarmsOf(synth);
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) expect(alarm.Properties['AlarmActions']).toEqual([{ Ref: topicId }]);
  });

  it('the topic refuses publishes that are not over TLS', () => {
    synth.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it.each(ALL_HANDLERS)(
    'Lambda %s has one alarm on its Errors + Throttles, from the first one',
    (handler) => {
      const fn = { Ref: functionId(synth, handler) };
      const metricOf = (alarm: { Properties: Record<string, unknown> }, name: string) =>
        (
          (alarm.Properties['Metrics'] ?? []) as {
            MetricStat?: { Metric: Record<string, unknown>; Stat: string };
          }[]
        ).find((m) => m.MetricStat?.Metric['MetricName'] === name)?.MetricStat;
      const alarms = alarmsOf(synth).filter((alarm) =>
        ['Errors', 'Throttles'].some(
          (name) =>
            JSON.stringify(metricOf(alarm, name)?.Metric['Dimensions']) ===
            JSON.stringify([{ Name: 'FunctionName', Value: fn }]),
        ),
      );
      expect(alarms, handler).toHaveLength(1);
      const [alarm] = alarms;
      for (const name of ['Errors', 'Throttles']) {
        expect(metricOf(alarm!, name), `${handler} ${name}`).toMatchObject({
          Metric: { Namespace: 'AWS/Lambda', Dimensions: [{ Name: 'FunctionName', Value: fn }] },
          Stat: 'Sum',
        });
      }
      expect(
        (alarm!.Properties['Metrics'] as { Expression?: string }[]).map((m) => m.Expression).filter(Boolean),
      ).toEqual(['errors + throttles']);
      expect(alarm!.Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    },
  );

  it('each of its two stacks stays within CloudFormation’s 500 resources, with room for one more route', () => {
    // A new route adds three resources to the parent (permission, integration, route), and a new API
    // Lambda five to the nested stack (function, role, policy, log group, alarm): this fails here, not
    // in a deploy (infra/README.md, "Size").
    expect(Object.keys(synth.stacks.parent.Resources).length).toBeLessThanOrEqual(500 - 3);
    expect(Object.keys(synth.stacks.apiFunctions.Resources).length).toBeLessThanOrEqual(500 - 5);
    // Parameters and outputs have limits of their own (200 each): one output per API Lambda.
    expect(Object.keys(synth.stacks.apiFunctions.Outputs ?? {}).length).toBeLessThanOrEqual(200 - 1);
    expect(Object.keys(synth.stacks.apiFunctions.Parameters ?? {}).length).toBeLessThanOrEqual(200 - 1);
  });

  it('puts every API handler’s Lambda, and its alarm, in the nested stack, and the background ones in the parent', () => {
    const typesIn = (template: { Resources: Record<string, CfnResource> }, type: string) =>
      Object.values(template.Resources).filter((resource) => resource.Type === type).length;
    const apiHandlers = ALL_HANDLERS.length - BACKGROUND_HANDLERS.length;
    expect(typesIn(synth.stacks.apiFunctions, 'AWS::Lambda::Function')).toBe(apiHandlers);
    expect(typesIn(synth.stacks.apiFunctions, 'AWS::CloudWatch::Alarm')).toBe(apiHandlers);
    expect(typesIn(synth.stacks.parent, 'AWS::Lambda::Function')).toBe(BACKGROUND_HANDLERS.length);
    // The API itself stays in the parent, so moving the Lambdas kept its id and URL.
    expect(typesIn(synth.stacks.parent, 'AWS::ApiGatewayV2::Api')).toBe(1);
    expect(typesIn(synth.stacks.parent, 'AWS::ApiGatewayV2::Route')).toBe(ROUTES.length);
  });

  it('each dead-letter queue has one alarm as soon as it holds a message (depth > 0)', () => {
    for (const queueId of dlqIds(synth)) {
      const alarms = alarmsOn(synth, 'AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', {
        'Fn::GetAtt': [queueId, 'QueueName'],
      });
      expect(alarms, queueId).toHaveLength(1);
      expect(alarms[0]?.Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
      });
    }
  });

  it('alarms when the stream fan-out falls behind the table (IteratorAge of the stream consumer)', () => {
    const alarms = functionAlarms(synth, 'stream-fanout', 'IteratorAge');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.Properties).toMatchObject({
      Statistic: 'Maximum',
      Threshold: ITERATOR_AGE_ALARM.threshold.toMilliseconds(),
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: ITERATOR_AGE_ALARM.evaluationPeriods,
    });
    // Well below the mapping's 6 h maximum record age: there is time to act before records go to the DLQ.
    expect(ITERATOR_AGE_ALARM.threshold.toMilliseconds()).toBeLessThanOrEqual(60 * 60 * 1000);
  });

  it('alarms on API 5xx', () => {
    const [apiId] = only(synth, 'AWS::ApiGatewayV2::Api');
    expect(alarmsOn(synth, 'AWS/ApiGateway', '5xx', 'ApiId', { Ref: apiId })).toHaveLength(1);
  });

  it.each([
    ['any subscription the period close could not close (the run itself succeeds)', 'PeriodCloseFailures'],
    ['any item the daily check of the due index had to fix', 'DueIndexRepaired'],
  ])('alarms on %s', (_what, metricName) => {
    const [alarm, ...others] = alarmsOf(synth).filter(
      (a) => a.Properties['Namespace'] === 'Billing' && a.Properties['MetricName'] === metricName,
    );
    expect(others).toEqual([]);
    expect(alarm?.Properties).toMatchObject({
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      Dimensions: expect.arrayContaining([
        { Name: 'service', Value: 'billing' },
        { Name: 'stage', Value: expect.any(String) },
      ]),
    });
  });

  it('has exactly these alarms: 1 per Lambda, 1 per DLQ, iterator age, API 5xx, close failures, due index', () => {
    expect(alarmsOf(synth)).toHaveLength(ALL_HANDLERS.length + dlqIds(synth).length + 4);
  });
});

describe('alarm subscriptions', () => {
  it('e-mails alarmEmail when the stage sets one, and no one otherwise', () => {
    const [topicId] = only(prod, 'AWS::SNS::Topic');
    const subscriptions = ofType(prod, 'AWS::SNS::Subscription').map(([, s]) => s as CfnResource);
    expect(subscriptions.map((s) => s.Properties)).toEqual([
      expect.objectContaining({
        Protocol: 'email',
        Endpoint: 'billing-oncall@example.com',
        TopicArn: { Ref: topicId },
      }),
    ]);
    expect(ofType(dev, 'AWS::SNS::Subscription')).toEqual([]);
  });
});
