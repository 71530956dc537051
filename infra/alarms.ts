import { Duration } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { StageConfig } from './stage-config.ts';

export type AlarmsProps = {
  readonly config: StageConfig;
  readonly httpApi: apigw.IHttpApi;
  readonly functions: readonly [string, lambda.IFunction][];
  /** Dead-letter queues: any message in one means an event was not delivered. */
  readonly deadLetterQueues: readonly [string, sqs.IQueue][];
};

/**
 * Alarms on what needs a person: a message in any dead-letter queue, Lambda errors, API 5xx. They go
 * to an SNS topic, which e-mails `alarmEmail` when the stage configures one.
 */
export class Alarms extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { displayName: `Billing alarms (${props.config.stage})` });
    if (props.config.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.config.alarmEmail));
    const action = new SnsAction(this.topic);
    const period = Duration.minutes(5);

    const alarms: cloudwatch.Alarm[] = [];
    for (const [name, queue] of props.deadLetterQueues) {
      alarms.push(
        queue
          .metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' })
          .createAlarm(this, `${name}NotEmpty`, {
            alarmDescription: `${name}: undelivered billing events are waiting to be inspected and redriven`,
            threshold: 1,
            evaluationPeriods: 1,
            comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
          }),
      );
    }
    for (const [name, fn] of props.functions) {
      alarms.push(
        fn.metricErrors({ period, statistic: 'Sum' }).createAlarm(this, `${name}Errors`, {
          alarmDescription: `Lambda ${name} is throwing errors`,
          threshold: 1,
          evaluationPeriods: 3,
          datapointsToAlarm: 2,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    alarms.push(
      props.httpApi.metricServerError({ period, statistic: 'Sum' }).createAlarm(this, 'Api5xx', {
        alarmDescription: 'The billing API is answering 5xx',
        threshold: 5,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    for (const alarm of alarms) alarm.addAlarmAction(action);
  }
}
