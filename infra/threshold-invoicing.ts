import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { THRESHOLD_INVOICING_RULE_PATTERN } from '../shared/events/rules.ts';
import { deadLetterQueue, sendAsyncFailuresTo } from './dead-letter-queue.ts';
import { SYNC_DELIVERY, toEventPattern } from './smart-gateway-sync.ts';
import type { StageConfig } from './stage-config.ts';

export type ThresholdInvoicingProps = {
  readonly config: StageConfig;
  readonly bus: events.IEventBus;
  /** The usage-threshold-invoicer handler's Lambda. */
  readonly invoicerFunction: lambda.Function;
};

/**
 * Progressive billing: the rule that sends `usage.threshold_reached` from the billing bus to the
 * threshold invoicer, delivered and retried like the SmartGateway sync (the invoicer is idempotent).
 * An event that cannot be delivered or keeps failing lands in its DLQ (alarmed): the period's closing
 * invoice still bills that usage, only not early; redrive it to invoice it now.
 */
export class ThresholdInvoicing extends Construct {
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ThresholdInvoicingProps) {
    super(scope, id);
    this.deadLetterQueue = deadLetterQueue(this, 'ThresholdInvoicingDeadLetterQueue', props.config);
    sendAsyncFailuresTo(this.deadLetterQueue, props.invoicerFunction, {
      retryAttempts: SYNC_DELIVERY.asyncRetryAttempts,
      maxEventAge: SYNC_DELIVERY.maxEventAge,
    });
    this.rule = new events.Rule(this, 'ThresholdInvoicingRule', {
      eventBus: props.bus,
      description: `Usage thresholds to invoice mid-period (${props.config.stage})`,
      eventPattern: toEventPattern(THRESHOLD_INVOICING_RULE_PATTERN),
    });
    this.rule.addTarget(
      new targets.LambdaFunction(props.invoicerFunction, {
        retryAttempts: SYNC_DELIVERY.retryAttempts,
        maxEventAge: SYNC_DELIVERY.maxEventAge,
        deadLetterQueue: this.deadLetterQueue,
      }),
    );
  }
}
