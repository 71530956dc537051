import {
  AspectPriority,
  Aspects,
  type CfnElement,
  CfnOutput,
  CfnParameter,
  Duration,
  NestedStack,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ALL_HANDLERS, BACKGROUND_HANDLERS, handlerAccess, ROUTES } from '../shared/http/routes.ts';
import { Alarms } from './alarms.ts';
import { BillingApi } from './billing-api.ts';
import { BillingFunctions, CombinedFunctions, pascalCase } from './billing-functions.ts';
import { BillingTable } from './billing-table.ts';
import { BudgetQueue } from './budget-queue.ts';
import { deadLetterQueue, sendAsyncFailuresTo } from './dead-letter-queue.ts';
import { DocumentsBucket } from './documents-bucket.ts';
import { EventFanout } from './event-fanout.ts';
import { ServicePermissionSourceAccount } from './lambda-permissions.ts';
import { Payments } from './payments.ts';
import { SmartGatewaySync } from './smart-gateway-sync.ts';
import type { StageConfig } from './stage-config.ts';
import { ThresholdInvoicing } from './threshold-invoicing.ts';

export type BillingStackProps = StackProps & {
  readonly config: StageConfig;
  /** Directory with `<handler>/index.mjs` per handler; defaults to dist/functions (tests pass a temp dir). */
  readonly assetRoot?: string;
};

/**
 * Delivery of the hourly period close, by the schedule's target and by the Lambda's own asynchronous
 * invocation. The close reads the clock, not the event, and every run closes every period ended by then:
 * an attempt older than the next run's start has nothing left to do that the next run would not do.
 */
export const CLOSE_SCHEDULE = {
  rate: Duration.hours(1),
  /** EventBridge retries delivery (throttling, Lambda unavailable) this often, for at most maxEventAge. */
  retryAttempts: 2,
  maxEventAge: Duration.hours(1),
  /** Lambda then retries a failing run this often before the event goes to the same DLQ. */
  asyncRetryAttempts: 2,
} as const;

export function billingStackName(stage: string): string {
  return `Billing-${stage}`;
}

/**
 * One stage of the billing service: table -> stream -> fan-out -> bus -> SmartGateway sync, the HTTP
 * API in front of the handlers, the Stripe secret, alarms (to one SNS topic). Permissions are least
 * privilege: API handlers read/write the billing table (the read-only ones, GETs, only read it); the
 * fan-out reads the stream and puts events on the bus; the sync writes the two SmartGateway tables;
 * only Stripe-calling handlers read the Stripe secret; each Lambda writes logs to its own group only.
 * The API handlers' Lambdas are in a nested stack (`ApiFunctions`): one stack would pass CloudFormation's
 * 500 resources (infra/README.md, "Size"). The API stays here, so its id and URL never move.
 */
export class BillingStack extends Stack {
  readonly config: StageConfig;
  readonly functions: CombinedFunctions;
  /** The nested stack holding the API handlers' Lambdas (see API_FUNCTIONS_STACK_REASON). */
  readonly apiFunctionsStack: NestedStack;
  readonly api: BillingApi;
  readonly alarms: Alarms;
  readonly documents: DocumentsBucket;

  constructor(scope: Construct, id: string, props: BillingStackProps) {
    // Termination protection guards every stage that keeps its data (all but dev).
    super(scope, id, { terminationProtection: props.config.retainData, ...props });
    const { config } = props;
    this.config = config;
    // Every service-principal Lambda permission below (API routes, EventBridge rules) gets SourceAccount.
    Aspects.of(this).add(new ServicePermissionSourceAccount(), { priority: AspectPriority.MUTATING });

    const billingTable = new BillingTable(this, 'BillingTable', { config });
    const table = billingTable.table;
    const functionProps = {
      config,
      ...(props.assetRoot === undefined ? {} : { assetRoot: props.assetRoot }),
      environment: {
        STAGE: config.stage,
        TABLE_NAME: table.tableName,
        // Who a token belongs to (shared/config.ts reads these; infra/README.md, "Tenancy").
        TENANT_CLAIM: config.tenantClaim,
        OPERATOR_SCOPE: config.operatorScope,
        USAGE_RECORD_RETENTION_DAYS: String(config.usageRecordRetentionDays),
        // The seller the invoice documents print (PDF, hosted page).
        ...(config.invoiceIssuer.length > 0 ? { INVOICE_ISSUER: config.invoiceIssuer.join('\n') } : {}),
      },
    };
    this.apiFunctionsStack = new NestedStack(this, 'ApiFunctions', {
      description: `Billing service (${config.stage}): the Lambdas behind the HTTP API's routes`,
    });
    const backgroundFunctions = new BillingFunctions(this, 'Functions', {
      ...functionProps,
      handlers: BACKGROUND_HANDLERS,
    });
    const apiFunctions = new BillingFunctions(this.apiFunctionsStack, 'Functions', {
      ...functionProps,
      handlers: ALL_HANDLERS.filter((name) => !(BACKGROUND_HANDLERS as readonly string[]).includes(name)),
    });
    this.functions = new CombinedFunctions([backgroundFunctions, apiFunctions]);

    const fanout = new EventFanout(this, 'EventFanout', {
      config,
      table,
      fanoutFunction: this.functions.get('stream-fanout'),
    });
    this.functions.addEnvironment('EVENT_BUS_NAME', fanout.bus.eventBusName);

    const budgetQueue = new BudgetQueue(this, 'BudgetQueue', {
      config,
      producer: this.functions.get('stream-fanout'),
      projector: this.functions.get('budget-projector'),
    });

    const smartGateway = new SmartGatewaySync(this, 'SmartGateway', {
      config,
      bus: fanout.bus,
      syncFunction: this.functions.get('smart-gateway-sync'),
    });

    const thresholdInvoicing = new ThresholdInvoicing(this, 'ThresholdInvoicing', {
      config,
      bus: fanout.bus,
      invoicerFunction: this.functions.get('usage-threshold-invoicer'),
    });

    // The API Lambdas live in the nested stack and are granted the table there, through a parameter
    // named here (not one CDK names), so that the grant's index wildcard has a stable name to acknowledge.
    // A parameter made directly under its stack has its construct id as its logical id.
    const tableArnName = 'BillingTableArn';
    const tableArnParameter = new CfnParameter(this.apiFunctionsStack, tableArnName, {
      type: 'String',
      description: 'ARN of the billing table (the parent stack passes it)',
    });
    this.apiFunctionsStack.setParameter(tableArnName, table.tableArn);
    const apiStackTable = dynamodb.Table.fromTableAttributes(this.apiFunctionsStack, 'BillingTable', {
      tableArn: tableArnParameter.valueAsString,
      grantIndexPermissions: true,
    });
    // CDK's table grants cover `<table ARN>/index/*` so that handlers can Query GSI1 and GSI2: a wildcard
    // over this table's own indexes, which cdk-nag reports as AwsSolutions-IAM5.
    const tableLogicalId = this.getLogicalId(table.node.defaultChild as CfnElement);
    const tableIn = (fn: lambda.IFunction) =>
      Stack.of(fn) === this
        ? { table: table as dynamodb.ITable, arnName: `${tableLogicalId}.Arn` }
        : { table: apiStackTable, arnName: tableArnName };
    for (const name of ALL_HANDLERS) {
      const access = handlerAccess(name);
      if (access.billingTable === 'none') continue;
      const fn = this.functions.get(name);
      const { table, arnName } = tableIn(fn);
      if (access.billingTable === 'read') table.grantReadData(fn);
      if (access.billingTable === 'read-write') table.grantReadWriteData(fn);
      // Usage totals read every counter shard of a period in one PartiQL SELECT whose WHERE names the
      // shards' partition keys (shared/store/partiql.ts); a SELECT that would scan the table is denied.
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:PartiQLSelect'], resources: [table.tableArn] }),
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          effect: iam.Effect.DENY,
          actions: ['dynamodb:PartiQLSelect'],
          resources: [table.tableArn],
          conditions: { Bool: { 'dynamodb:FullTableScan': 'true' } },
        }),
      );
      Validations.of(fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${arnName}>/index/*]`,
        reason:
          `The ${access.billingTable} grant on the billing table includes its global secondary indexes ` +
          '(<table ARN>/index/*), which the access patterns query; the wildcard matches only the indexes ' +
          'of this one table, whose names are fixed by shared/store/table-definition.ts.',
      });
    }

    this.documents = new DocumentsBucket(this, 'Documents', { config });
    this.documents.grantDocuments(
      this.apiFunctionsStack,
      ALL_HANDLERS.filter((name) => handlerAccess(name).documents === 'read-write').map((name) =>
        this.functions.get(name),
      ),
    );

    const payments = new Payments(this, 'Payments', {
      config,
      stripeFunctions: this.functions
        .entries()
        .filter(([name]) => handlerAccess(name).stripeSecret)
        .map(([, fn]) => fn),
    });

    this.api = new BillingApi(this, 'Api', { config, functions: this.functions });

    // The period close: hourly, idempotent (a period's invoice id is derived from the period), so
    // a retried or overlapping run bills nothing twice. A run EventBridge could not start, and a run
    // that kept failing, both land in one DLQ (alarmed), as the schedule event or as a Lambda failure
    // record: evidence of a missed hour, not work to put back (infra/README.md, "Dead letters").
    const closePeriods = this.functions.get('close-periods');
    const closeDeadLetterQueue = deadLetterQueue(this, 'ClosePeriodsDeadLetterQueue', config);
    sendAsyncFailuresTo(closeDeadLetterQueue, closePeriods, {
      retryAttempts: CLOSE_SCHEDULE.asyncRetryAttempts,
      maxEventAge: CLOSE_SCHEDULE.maxEventAge,
    });
    new events.Rule(this, 'ClosePeriodsSchedule', {
      description: 'Closes ended billing periods into draft invoices',
      schedule: events.Schedule.rate(CLOSE_SCHEDULE.rate),
      targets: [
        new targets.LambdaFunction(closePeriods, {
          retryAttempts: CLOSE_SCHEDULE.retryAttempts,
          maxEventAge: CLOSE_SCHEDULE.maxEventAge,
          deadLetterQueue: closeDeadLetterQueue,
        }),
      ],
    });

    this.alarms = new Alarms(this, 'Alarms', {
      config,
      httpApi: this.api.httpApi,
      functions: backgroundFunctions.entries(),
      deadLetterQueues: [
        ['StreamDeadLetterQueue', fanout.deadLetterQueue],
        ['SyncDeadLetterQueue', smartGateway.deadLetterQueue],
        ['BudgetDeadLetterQueue', budgetQueue.deadLetterQueue],
        ['ClosePeriodsDeadLetterQueue', closeDeadLetterQueue],
        ['ThresholdInvoicingDeadLetterQueue', thresholdInvoicing.deadLetterQueue],
      ],
      streamConsumer: this.functions.get('stream-fanout'),
    });
    this.alarms.alarmFunctions(new Construct(this.apiFunctionsStack, 'Alarms'), apiFunctions.entries());

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output('ApiUrl', this.api.url, 'Base URL of the billing HTTP API');
    output('TableName', table.tableName, 'Billing single table');
    output(
      'DocumentsBucketName',
      this.documents.bucket.bucketName,
      'Invoice PDFs (kept when the stack is deleted)',
    );
    output('EventBusName', fanout.bus.eventBusName, 'EventBridge bus carrying billing events');
    output('BudgetsTableName', smartGateway.budgetsTable.tableName, 'SmartGateway budgets table');
    output(
      'RoutingPoliciesTableName',
      smartGateway.routingPoliciesTable.tableName,
      'SmartGateway routing_policies table',
    );
    output('StripeSecretArn', payments.stripeSecret.secretArn, 'Secret to fill with the Stripe credentials');
    output(
      'StreamDeadLetterQueueUrl',
      fanout.deadLetterQueue.queueUrl,
      'Stream batches the fan-out could not publish',
    );
    output(
      'SyncDeadLetterQueueUrl',
      smartGateway.deadLetterQueue.queueUrl,
      'Events the SmartGateway sync could not apply',
    );
    output(
      'BudgetDeadLetterQueueArn',
      budgetQueue.deadLetterQueue.queueArn,
      'Budget inputs the projector kept failing on (move them back with an SQS DLQ redrive)',
    );
    output(
      'ClosePeriodsDeadLetterQueueUrl',
      closeDeadLetterQueue.queueUrl,
      'Hourly period-close runs that could not be started or kept failing',
    );
    output(
      'ThresholdInvoicingDeadLetterQueueUrl',
      thresholdInvoicing.deadLetterQueue.queueUrl,
      'usage.threshold_reached events the threshold invoicer could not handle (the close still bills the usage)',
    );
    output(
      'ClosePeriodsFunctionName',
      closePeriods.functionName,
      'The period-close Lambda: invoke it to run a missed close at once',
    );
    output(
      'AlarmTopicArn',
      this.alarms.topic.topicArn,
      'SNS topic every alarm of this stage notifies: subscribe here',
    );
    for (const route of ROUTES.filter((r) => r.auth === 'iam')) {
      output(
        `IamRouteArn${pascalCase(route.path)}`,
        this.api.httpApi.arnForExecuteApi(route.method, route.path, '$default'),
        `execute-api:Invoke resource to grant IAM (SigV4) callers of ${route.method} ${route.path}`,
      );
    }
  }
}
