import { Duration, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { StageConfig } from './stage-config.ts';

/** Longest SQS retention: time for an operator to inspect and redrive. */
export const DLQ_RETENTION = Duration.days(14);

/** An SQS dead-letter queue: SSE-SQS encrypted, TLS-only, 14-day retention, stage removal policy. */
export function deadLetterQueue(scope: Construct, id: string, config: StageConfig): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: DLQ_RETENTION,
    removalPolicy: config.removalPolicy,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      'This queue is itself a dead-letter queue (of the stream event source mapping, or of the EventBridge ' +
      "target and the Lambda async invoke); cdk-nag only recognises DLQs named in another queue's redrive " +
      'policy. Nothing consumes it automatically, so it needs no DLQ of its own; its depth is alarmed.',
  });
  return queue;
}
