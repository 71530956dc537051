import { Duration, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { StageConfig } from './stage-config.ts';

/** Longest SQS retention: time for an operator to inspect and redrive. */
export const DLQ_RETENTION = Duration.days(14);

const IS_A_DLQ_REASON =
  'This queue is itself a dead-letter queue (of the stream event source mapping, or of an EventBridge ' +
  "target and a Lambda async invoke); cdk-nag only recognises DLQs named in another queue's redrive " +
  'policy. Nothing consumes it automatically, so it needs no DLQ of its own; its depth is alarmed.';

/** An SQS dead-letter queue: SSE-SQS encrypted, TLS-only, 14-day retention, stage removal policy. */
export function deadLetterQueue(scope: Construct, id: string, config: StageConfig): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: DLQ_RETENTION,
    removalPolicy: config.removalPolicy,
  });
  // Both packs ask every queue for a redrive policy (AwsSolutions-SQS3, Serverless-SQSRedrivePolicy).
  Validations.of(queue).acknowledge(
    { id: 'AwsSolutions-SQS3', reason: IS_A_DLQ_REASON },
    { id: 'Serverless-SQSRedrivePolicy', reason: IS_A_DLQ_REASON },
  );
  return queue;
}

/** How often Lambda retries a failing asynchronous invocation, and for how long it keeps trying. */
export type AsyncRetries = { readonly retryAttempts: number; readonly maxEventAge: Duration };

/**
 * Sends a Lambda's failed asynchronous invocations (retries used up, or the event too old) to a DLQ as
 * failure records: `requestContext.condition`, the error as `responsePayload`, the event as `requestPayload`.
 * This on-failure destination replaces the function-level DeadLetterConfig, so Serverless-LambdaDLQ is
 * acknowledged here, where the reason is made true.
 */
export function sendAsyncFailuresTo(queue: sqs.IQueue, fn: lambda.Function, retries: AsyncRetries): void {
  fn.configureAsyncInvoke({ ...retries, onFailure: new SqsDestination(queue) });
  Validations.of(fn).acknowledge({
    id: 'Serverless-LambdaDLQ',
    reason:
      "Failed asynchronous invocations go to the on-failure destination of this function's async " +
      'invoke config (an SQS DLQ, alarmed; Serverless-LambdaAsyncFailureDestination checks it). Its ' +
      "record keeps the event, the error and why retries ended; Lambda's DeadLetterConfig is the older " +
      'mechanism for the same failures and keeps the event only, so a second place would add nothing.',
  });
}
