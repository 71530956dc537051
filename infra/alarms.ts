import { Duration, Validations } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SERVICE_NAME } from '../shared/logger.ts';
import { METRIC, METRICS_NAMESPACE } from '../shared/observability.ts';
import { STREAM_SETTINGS } from './event-fanout.ts';
import type { StageConfig } from './stage-config.ts';

/**
 * How far the stream fan-out may fall behind the table before someone is told. Its lag is the lag of
 * every event, so of the SmartGateway budgets; normally it is under a second. Five minutes, sustained
 * for two periods, is a real backlog (a failing batch being retried, or throttling), and leaves hours
 * before records reach the mapping's maximum record age (STREAM_SETTINGS, 6 h) and go to the stream DLQ.
 */
export const ITERATOR_AGE_ALARM = {
  threshold: Duration.minutes(5),
  period: Duration.minutes(5),
  evaluationPeriods: 2,
} as const;

export type AlarmsProps = {
  readonly config: StageConfig;
  readonly httpApi: apigw.IHttpApi;
  /** The Lambdas of this stack: each gets one alarm on its Errors + Throttles (alarmFunctions: others). */
  readonly functions: readonly [string, lambda.IFunction][];
  /** Dead-letter queues: any message in one means an event was not delivered. */
  readonly deadLetterQueues: readonly [string, sqs.IQueue][];
  /** The Lambda behind the DynamoDB stream event source mapping (its IteratorAge is alarmed). */
  readonly streamConsumer: lambda.IFunction;
};

// Lambda metrics (and the service's own counts) only exist for periods with invocations: no data is
// not a problem.
const notBreaching = cloudwatch.TreatMissingData.NOT_BREACHING;
const atLeast = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;

/**
 * Alarms on what needs a person: a message in any dead-letter queue, errors or throttles of any Lambda,
 * the stream fan-out falling behind, API 5xx, and two of the service's own counts (subscriptions the
 * period close could not close, due-index items the daily check had to fix). All of them notify one SNS topic per stage, which e-mails
 * `alarmEmail` when the stage configures one; anyone else subscribes to it (its ARN is the stack output
 * `AlarmTopicArn`).
 */
export class Alarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: `Billing alarms (${props.config.stage})`,
      enforceSSL: true,
    });
    if (props.config.alarmEmail) {
      const subscription = this.topic.addSubscription(new EmailSubscription(props.config.alarmEmail));
      Validations.of(subscription).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason:
          'An alarm e-mail SNS could not deliver has no one to go to: an alarm on its dead-letter ' +
          'queue would notify this same topic. The alarm itself stays in ALARM, with its history, in ' +
          'CloudWatch whether or not the e-mail arrived; pagers and chat hooks subscribe themselves ' +
          '(infra/README.md, Alarms).',
      });
    }
    const period = Duration.minutes(5);

    for (const [name, queue] of props.deadLetterQueues) {
      this.alarms.push(
        queue
          .metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' })
          .createAlarm(this, `${name}NotEmpty`, {
            alarmDescription:
              `${name}: undelivered events or failed runs are waiting to be inspected and redriven ` +
              '(infra/README.md, Dead letters and redrive)',
            threshold: 1,
            evaluationPeriods: 1,
            comparisonOperator: atLeast,
            treatMissingData: notBreaching,
          }),
      );
    }
    for (const [name, fn] of props.functions)
      this.alarms.push(errorsOrThrottlesAlarm(this, name, fn, period));
    this.alarms.push(
      props.streamConsumer
        .metric('IteratorAge', { period: ITERATOR_AGE_ALARM.period, statistic: 'Maximum' })
        .createAlarm(this, 'StreamIteratorAge', {
          alarmDescription:
            `The stream fan-out is more than ${ITERATOR_AGE_ALARM.threshold.toHumanString()} behind the ` +
            'billing table: events and SmartGateway budgets lag; records older than ' +
            `${STREAM_SETTINGS.maxRecordAge.toHumanString()} go to the stream DLQ`,
          threshold: ITERATOR_AGE_ALARM.threshold.toMilliseconds(),
          evaluationPeriods: ITERATOR_AGE_ALARM.evaluationPeriods,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: notBreaching,
        }),
      // The close job reports a subscription it could not close and goes on with the others: the run
      // succeeds, so only this count tells (docs/invoicing.md, "Period close").
      this.countAlarm(
        props.config.stage,
        'PeriodCloseFailures',
        METRIC.periodCloseFailures,
        'The period close could not close (or dun) some subscriptions; the others were closed. Each ' +
          'has a CLOSE_FAILURE marker item with the reason (docs/invoicing.md, Period close)',
      ),
      // Only code that writes no due keys (a rollback past the release that added the index) makes the
      // daily check fix anything; the job is right meanwhile, but closes those items late.
      this.countAlarm(
        props.config.stage,
        'DueIndexRepaired',
        METRIC.dueIndexRepaired,
        'The daily check of the due index found subscriptions or invoices without due keys (code from ' +
          'before the index ran after it was complete) and fixed them; the close reads every item until ' +
          'the index is complete again (docs/invoicing.md, How the job finds its work)',
      ),
      props.httpApi.metricServerError({ period, statistic: 'Sum' }).createAlarm(this, 'Api5xx', {
        alarmDescription: 'The billing API is answering 5xx',
        threshold: 5,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: atLeast,
        treatMissingData: notBreaching,
      }),
    );
    const action = new SnsAction(this.topic);
    for (const alarm of this.alarms) alarm.addAlarmAction(action);
  }

  /**
   * The errors-or-throttles alarm of each of `functions`, made in `scope` (the stack that holds them: an
   * alarm naming a function of another stack would need an export per function) and notifying the topic.
   */
  alarmFunctions(scope: Construct, functions: readonly [string, lambda.IFunction][]): void {
    const action = new SnsAction(this.topic);
    for (const [name, fn] of functions) {
      const alarm = errorsOrThrottlesAlarm(scope, name, fn, Duration.minutes(5));
      alarm.addAlarmAction(action);
      this.alarms.push(alarm);
    }
  }

  /** An alarm on one of the service's own counts (METRIC): any in an hour. */
  private countAlarm(stage: string, id: string, metricName: string, description: string): cloudwatch.Alarm {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: SERVICE_NAME, stage },
      period: Duration.hours(1),
      statistic: 'Sum',
    }).createAlarm(this, id, {
      alarmDescription: description,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: atLeast,
      treatMissingData: notBreaching,
    });
  }
}

/**
 * One alarm per Lambda for errors and throttles together (metric math): a stack holds at most 500
 * resources, and two alarms for each of ~60 Lambdas would be a quarter of them.
 */
function errorsOrThrottlesAlarm(
  scope: Construct,
  name: string,
  fn: lambda.IFunction,
  period: Duration,
): cloudwatch.Alarm {
  return new cloudwatch.MathExpression({
    expression: 'errors + throttles',
    usingMetrics: {
      errors: fn.metricErrors({ period, statistic: 'Sum' }),
      throttles: fn.metricThrottles({ period, statistic: 'Sum' }),
    },
    period,
    label: `${name} errors + throttles`,
  }).createAlarm(scope, `${name}ErrorsOrThrottles`, {
    alarmDescription:
      `Lambda ${name} is throwing errors, or being throttled (account or function concurrency ` +
      'exhausted: API calls fail, stream batches and events wait for retries)',
    threshold: 1,
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    comparisonOperator: atLeast,
    treatMissingData: notBreaching,
  });
}
