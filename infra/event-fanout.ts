import { Duration, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterQueue } from './dead-letter-queue.ts';
import type { StageConfig } from './stage-config.ts';

/** Stream batch handling; the handler reports the first failed record (ReportBatchItemFailures). */
export const STREAM_SETTINGS = {
  batchSize: 100,
  maxBatchingWindow: Duration.seconds(1),
  /** After this many retries (bisecting the batch each time) the batch's pointers go to the DLQ. */
  retryAttempts: 5,
  /**
   * Records older than this go to the DLQ instead of being retried forever. Kept well below the
   * stream's 24 h retention, because the DLQ message holds only shard and sequence numbers: the
   * records themselves must still be readable from the stream to be redriven.
   */
  maxRecordAge: Duration.hours(6),
} as const;

export type EventFanoutProps = {
  readonly config: StageConfig;
  readonly table: dynamodb.ITable;
  /** The stream-fanout handler's Lambda. */
  readonly fanoutFunction: lambda.IFunction;
};

/**
 * The dedicated billing EventBridge bus (`billing-<stage>`) and the stream -> bus fan-out: the
 * stream-fanout Lambda reads the table stream (trim horizon, batches of 100, partial batch responses,
 * bisect on error, bounded retries and record age) and parks batches it cannot publish in an SQS DLQ.
 * The Lambda may only read the stream and put events on this bus.
 */
export class EventFanout extends Construct {
  readonly bus: events.EventBus;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: EventFanoutProps) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', {
      eventBusName: `billing-${props.config.stage}`,
      description: `Billing domain events (${props.config.stage})`,
    });
    this.deadLetterQueue = deadLetterQueue(this, 'StreamDeadLetterQueue', props.config);

    props.fanoutFunction.addEventSource(
      new DynamoEventSource(props.table, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: STREAM_SETTINGS.batchSize,
        maxBatchingWindow: STREAM_SETTINGS.maxBatchingWindow,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: STREAM_SETTINGS.retryAttempts,
        maxRecordAge: STREAM_SETTINGS.maxRecordAge,
        onFailure: new SqsDlq(this.deadLetterQueue),
      }),
    );
    this.bus.grantPutEventsTo(props.fanoutFunction);
    Validations.of(props.fanoutFunction).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'The stream event source mapping invokes this function synchronously; a batch it cannot publish ' +
        "goes to the mapping's on-failure destination (the stream DLQ above, checked by " +
        "Serverless-LambdaEventSourceMappingDestination). Lambda's DeadLetterConfig only receives " +
        'asynchronous invocations, which this function never gets.',
    });

    // The event source grants dynamodb:ListStreams on "*" next to the X-Ray statement (see
    // billing-functions.ts); acknowledged on the policy itself, closer than the role-wide X-Ray reason.
    const policy = props.fanoutFunction.role?.node.tryFindChild('DefaultPolicy');
    if (!policy)
      throw new Error('stream-fanout: expected its role to have a default policy after the grants');
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Two statements need Resource "*": dynamodb:ListStreams (the stream event source looks up the ' +
        "table's stream; the action has no resource-level permissions) and X-Ray's PutTraceSegments and " +
        'PutTelemetryRecords (no resource-level permissions either). Reading the stream itself is granted ' +
        "on this table's stream ARN only.",
    });
  }
}
