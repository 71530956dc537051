import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SMART_GATEWAY_SYNC_RULE_PATTERN } from '../shared/events/rules.ts';
import { BUDGETS_TABLE, ROUTING_POLICIES_TABLE } from '../shared/store/table-definition.ts';
import { keyedTable } from './billing-table.ts';
import { deadLetterQueue, sendAsyncFailuresTo } from './dead-letter-queue.ts';
import type { StageConfig } from './stage-config.ts';

/** Delivery settings of the rule target and of the Lambda's own asynchronous invocation. */
export const SYNC_DELIVERY = {
  /** EventBridge retries delivery (throttling, Lambda unavailable) this often, for at most maxEventAge. */
  retryAttempts: 8,
  maxEventAge: Duration.hours(6),
  /** Lambda then retries a failing invocation this often before the event goes to the same DLQ. */
  asyncRetryAttempts: 2,
} as const;

export type SmartGatewaySyncProps = {
  readonly config: StageConfig;
  readonly bus: events.IEventBus;
  /** The smart-gateway-sync handler's Lambda (gets the two table names and read/write on them). */
  readonly syncFunction: lambda.Function;
};

/**
 * The SmartGateway side: its `budgets` and `routing_policies` cache tables and the rule that feeds them
 * from the billing bus (pattern from shared/events/rules.ts). Events EventBridge cannot deliver and
 * events whose processing keeps failing both end up in one SQS dead-letter queue, redrivable:
 * the first kind as the event itself, the second as a Lambda failure record whose `requestPayload`
 * is the event.
 */
export class SmartGatewaySync extends Construct {
  readonly budgetsTable: dynamodb.Table;
  readonly routingPoliciesTable: dynamodb.Table;
  readonly rule: events.Rule;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: SmartGatewaySyncProps) {
    super(scope, id);
    const { config, syncFunction } = props;
    this.budgetsTable = keyedTable(
      this,
      'BudgetsTable',
      BUDGETS_TABLE,
      `smartgateway-budgets-${config.stage}`,
      config,
    );
    this.routingPoliciesTable = keyedTable(
      this,
      'RoutingPoliciesTable',
      ROUTING_POLICIES_TABLE,
      `smartgateway-routing-policies-${config.stage}`,
      config,
    );
    this.deadLetterQueue = deadLetterQueue(this, 'SyncDeadLetterQueue', config);

    syncFunction.addEnvironment('BUDGETS_TABLE_NAME', this.budgetsTable.tableName);
    syncFunction.addEnvironment('ROUTING_POLICIES_TABLE_NAME', this.routingPoliciesTable.tableName);
    this.budgetsTable.grantReadWriteData(syncFunction);
    this.routingPoliciesTable.grantReadWriteData(syncFunction);

    sendAsyncFailuresTo(this.deadLetterQueue, syncFunction, {
      retryAttempts: SYNC_DELIVERY.asyncRetryAttempts,
      maxEventAge: SYNC_DELIVERY.maxEventAge,
    });

    this.rule = new events.Rule(this, 'SyncRule', {
      eventBus: props.bus,
      description: `Billing events the SmartGateway caches (${config.stage})`,
      eventPattern: toEventPattern(SMART_GATEWAY_SYNC_RULE_PATTERN),
    });
    this.rule.addTarget(
      new targets.LambdaFunction(syncFunction, {
        retryAttempts: SYNC_DELIVERY.retryAttempts,
        maxEventAge: SYNC_DELIVERY.maxEventAge,
        deadLetterQueue: this.deadLetterQueue,
      }),
    );
  }
}

/**
 * The shared pattern is written in EventBridge's own JSON (`detail-type`); CDK's EventPattern spells
 * the same fields in camelCase (`detailType`) and renders them back, so the template gets it verbatim.
 */
export function toEventPattern(pattern: Readonly<Record<string, unknown>>): events.EventPattern {
  return Object.fromEntries(
    Object.entries(pattern).map(([key, value]) => [
      key.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase()),
      value,
    ]),
  ) as events.EventPattern;
}
