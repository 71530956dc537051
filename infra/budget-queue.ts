import { Duration, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DLQ_RETENTION } from './dead-letter-queue.ts';
import type { StageConfig } from './stage-config.ts';

/** The projector's batches: SQS FIFO delivers one batch per message group at a time, in order. */
export const BUDGET_QUEUE_SETTINGS = {
  batchSize: 10,
  /** Deliveries of a message before it goes to the DLQ (the projector reports its whole group). */
  maxReceiveCount: 5,
  /** Six times the projector's timeout, as Lambda's SQS guidance asks. */
  visibilityTimeout: Duration.seconds(180),
} as const;

export type BudgetQueueProps = {
  readonly config: StageConfig;
  /** Sends budget inputs (stream-fanout). */
  readonly producer: lambda.Function;
  /** Applies them (budget-projector). */
  readonly projector: lambda.Function;
};

/**
 * Between the stream fan-out and the budget projector, an SQS FIFO queue with one message group
 * per subscription (the fan-out sets MessageGroupId): each subscription's budget inputs are applied
 * in order, one batch at a time, by one projector invocation, so nothing races on its projection,
 * while different subscriptions run in parallel. Deduplicated by event id; messages that keep
 * failing go to a FIFO DLQ (alarmed, redrivable).
 */
export class BudgetQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: BudgetQueueProps) {
    super(scope, id);
    const { config } = props;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      fifo: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DLQ_RETENTION,
      removalPolicy: config.removalPolicy,
    });
    const reason =
      'This FIFO queue is itself the dead-letter queue of the budget queue; nothing consumes it ' +
      'automatically, so it needs no DLQ of its own; its depth is alarmed.';
    Validations.of(this.deadLetterQueue).acknowledge({ id: 'Serverless-SQSRedrivePolicy', reason });
    this.queue = new sqs.Queue(this, 'Queue', {
      fifo: true,
      contentBasedDeduplication: false,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: BUDGET_QUEUE_SETTINGS.visibilityTimeout,
      removalPolicy: config.removalPolicy,
      deadLetterQueue: {
        queue: this.deadLetterQueue,
        maxReceiveCount: BUDGET_QUEUE_SETTINGS.maxReceiveCount,
      },
    });
    this.queue.grantSendMessages(props.producer);
    props.producer.addEnvironment('BUDGET_QUEUE_URL', this.queue.queueUrl);
    props.projector.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: BUDGET_QUEUE_SETTINGS.batchSize,
        reportBatchItemFailures: true,
      }),
    );
    const mapping = props.projector.node.children.find((child) => child.node.id.startsWith('SqsEventSource'));
    if (!mapping) throw new Error('budget-projector: expected its SQS event source mapping');
    Validations.of(mapping).acknowledge({
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason:
        'An SQS event source mapping takes no on-failure destination: failed messages return to the ' +
        "queue and, after maxReceiveCount deliveries, go to the queue's redrive DLQ (FIFO, alarmed).",
    });
    Validations.of(props.projector).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason:
        'The SQS event source invokes this function synchronously; messages it keeps failing go to the ' +
        "queue's own redrive DLQ above. Lambda's DeadLetterConfig only receives asynchronous invocations.",
    });
  }
}
