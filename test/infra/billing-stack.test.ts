import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { ServicePermissionSourceAccount } from '../../infra/lambda-permissions.ts';
import { ALL_HANDLERS, handlerAccess, ROUTES } from '../../shared/http/routes.ts';
import { BILLING_TABLE, BUDGETS_TABLE, ROUTING_POLICIES_TABLE } from '../../shared/store/table-definition.ts';
import {
  allowedTargets,
  environmentOf,
  functionId,
  functionResource,
  ofType,
  only,
  referencedIds,
  refTarget,
  statementsOf,
  synthStage,
} from './support.ts';

const dev = synthStage('dev');
const { template } = dev;

const [billingTableId] = only(dev, 'AWS::DynamoDB::Table', 'BillingTable');
const [budgetsTableId] = only(dev, 'AWS::DynamoDB::Table', 'SmartGatewayBudgetsTable');
const [routingTableId] = only(dev, 'AWS::DynamoDB::Table', 'SmartGatewayRoutingPoliciesTable');
const [busId] = only(dev, 'AWS::Events::EventBus');
const [secretId, secret] = only(dev, 'AWS::SecretsManager::Secret');
const apiHandlers = [...new Set(ROUTES.map((route) => route.handler))];

const keySchema = (partitionKey: string, sortKey: string) => [
  { AttributeName: partitionKey, KeyType: 'HASH' },
  { AttributeName: sortKey, KeyType: 'RANGE' },
];

describe('billing table', () => {
  it('has the single-table shape of BILLING_TABLE: PK/SK strings, GSIs projecting ALL', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'billing-dev',
      KeySchema: keySchema(BILLING_TABLE.partitionKey, BILLING_TABLE.sortKey),
      AttributeDefinitions: Match.arrayEquals(
        [
          BILLING_TABLE.partitionKey,
          BILLING_TABLE.sortKey,
          ...BILLING_TABLE.globalSecondaryIndexes.flatMap((gsi) => [gsi.partitionKey, gsi.sortKey]),
        ].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
      ),
      GlobalSecondaryIndexes: BILLING_TABLE.globalSecondaryIndexes.map((gsi) => ({
        IndexName: gsi.indexName,
        KeySchema: keySchema(gsi.partitionKey, gsi.sortKey),
        Projection: { ProjectionType: 'ALL' },
      })),
    });
  });

  it('is on-demand with PITR, the TTL attribute and a NEW_AND_OLD_IMAGES stream', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'billing-dev',
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: BILLING_TABLE.ttlAttribute, Enabled: true },
      StreamSpecification: { StreamViewType: BILLING_TABLE.streamViewType },
    });
  });

  it.each([
    ['budgets', 'smartgateway-budgets-dev', BUDGETS_TABLE],
    ['routing_policies', 'smartgateway-routing-policies-dev', ROUTING_POLICIES_TABLE],
  ])(
    'SmartGateway %s table: keys from the shared definition, on-demand, PITR',
    (_, tableName, definition) => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: tableName,
        KeySchema: keySchema(definition.partitionKey, definition.sortKey),
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    },
  );

  it('creates exactly these three tables', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 3);
  });
});

describe('functions', () => {
  it('one Lambda per handler in ALL_HANDLERS, nothing else', () => {
    template.resourceCountIs('AWS::Lambda::Function', ALL_HANDLERS.length);
    expect(new Set(ALL_HANDLERS.map((name) => functionId(dev, name))).size).toBe(ALL_HANDLERS.length);
  });

  it.each(ALL_HANDLERS)(
    '%s: Node.js 22 on arm64, index.handler from its asset, stacks source-mapped lazily',
    (name) => {
      expect(functionResource(dev, name).Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Code: { S3Key: expect.stringMatching(/\.zip$/) },
      });
      // Stacks are source-mapped lazily (shared/source-mapped-stacks.ts), not at every cold start.
      expect(environmentOf(dev, name)['NODE_OPTIONS']).toBeUndefined();
    },
  );

  it.each(ALL_HANDLERS)('%s: gets STAGE, TABLE_NAME and EVENT_BUS_NAME, never a local endpoint', (name) => {
    const env = environmentOf(dev, name);
    expect(env['STAGE']).toBe('dev');
    expect(refTarget(env['TABLE_NAME'])).toBe(billingTableId);
    expect(refTarget(env['EVENT_BUS_NAME'])).toBe(busId);
    expect(env).not.toHaveProperty('DYNAMODB_ENDPOINT');
    expect(env).not.toHaveProperty('EVENTBRIDGE_ENDPOINT');
  });

  it.each(ALL_HANDLERS)('%s: gets the tenancy settings TENANT_CLAIM and OPERATOR_SCOPE', (name) => {
    const env = environmentOf(dev, name);
    expect(env['TENANT_CLAIM']).toBe(dev.stack.config.tenantClaim);
    expect(env['OPERATOR_SCOPE']).toBe(dev.stack.config.operatorScope);
    expect([env['TENANT_CLAIM'], env['OPERATOR_SCOPE']]).toEqual(['tenant_id', 'billing:operator']);
  });

  it.each(ALL_HANDLERS)('%s: keeps usage records as long as the stage says (400 days by default)', (name) => {
    expect(environmentOf(dev, name)['USAGE_RECORD_RETENTION_DAYS']).toBe('400');
  });

  it("passes a stage's own tenancy settings to every Lambda", () => {
    const cognito = synthStage('dev', {
      tenantClaim: 'custom:tenant_id',
      operatorScope: 'billing-api/operator',
    });
    for (const name of ALL_HANDLERS) {
      expect(environmentOf(cognito, name), name).toMatchObject({
        TENANT_CLAIM: 'custom:tenant_id',
        OPERATOR_SCOPE: 'billing-api/operator',
      });
    }
  });

  it('gives the sync Lambda the SmartGateway table names', () => {
    const env = environmentOf(dev, 'smart-gateway-sync');
    expect(refTarget(env['BUDGETS_TABLE_NAME'])).toBe(budgetsTableId);
    expect(refTarget(env['ROUTING_POLICIES_TABLE_NAME'])).toBe(routingTableId);
  });

  it.each(ALL_HANDLERS)('%s: logs to its own log group with the stage retention', (name) => {
    const logGroupId = refTarget(
      (functionResource(dev, name).Properties['LoggingConfig'] as { LogGroup: unknown }).LogGroup,
    );
    expect(dev.resources[logGroupId ?? '']).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 7 },
    });
  });

  it.each(ALL_HANDLERS)('%s: X-Ray active tracing is on', (name) => {
    expect(functionResource(dev, name).Properties['TracingConfig']).toEqual({ Mode: 'Active' });
  });

  it('keeps API handlers within the API Gateway integration timeout', () => {
    for (const name of apiHandlers) {
      expect(functionResource(dev, name).Properties['Timeout']).toBeLessThanOrEqual(29);
    }
  });
});

describe('least privilege', () => {
  it('handlers that need the billing table read and write it (and its indexes), nothing else in DynamoDB', () => {
    const readWrite = apiHandlers.filter((handler) => handlerAccess(handler).billingTable === 'read-write');
    for (const name of readWrite) {
      expect(allowedTargets(dev, name, 'dynamodb:PutItem'), name).toEqual([billingTableId]);
      expect(allowedTargets(dev, name, 'dynamodb:Query'), name).toEqual([billingTableId]);
    }
  });

  it('handlers of the billing table may read it with a PartiQL SELECT, never one that scans it', () => {
    const withTable = ALL_HANDLERS.filter((handler) => handlerAccess(handler).billingTable !== 'none');
    expect(withTable.length).toBeGreaterThan(0);
    for (const name of withTable) {
      expect(allowedTargets(dev, name, 'dynamodb:PartiQLSelect'), name).toEqual([billingTableId]);
      const denials = statementsOf(dev, name).filter(
        (s) => s.effect === 'Deny' && s.actions.includes('dynamodb:PartiQLSelect'),
      );
      expect(
        denials.map((s) => [s.resources.flatMap(referencedIds), s.condition]),
        name,
      ).toEqual([[[billingTableId], { Bool: { 'dynamodb:FullTableScan': 'true' } }]]);
    }
    for (const name of ALL_HANDLERS.filter((handler) => handlerAccess(handler).billingTable === 'none')) {
      expect(allowedTargets(dev, name, 'dynamodb:PartiQLSelect'), name).toEqual([]);
    }
  });

  it('read-only handlers (every GET route) read the billing table and cannot change anything in DynamoDB', () => {
    const readOnly = ALL_HANDLERS.filter((handler) => handlerAccess(handler).billingTable === 'read');
    const getHandlers = ROUTES.filter((r) => r.method === 'GET' && r.handler !== 'openapi').map(
      (r) => r.handler,
    );
    expect(new Set(readOnly)).toEqual(new Set(getHandlers));
    for (const name of readOnly) {
      for (const action of ['dynamodb:GetItem', 'dynamodb:Query']) {
        expect(allowedTargets(dev, name, action), `${name} ${action}`).toEqual([billingTableId]);
      }
      for (const action of [
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:BatchWriteItem',
      ]) {
        expect(allowedTargets(dev, name, action), `${name} ${action}`).toEqual([]);
      }
    }
  });

  it.each(ALL_HANDLERS)(
    '%s: its own role, no AWS managed policy, and it writes logs only to its own log group',
    (name) => {
      const fn = functionResource(dev, name);
      const roleId = refTarget(fn.Properties['Role']);
      const role = dev.resources[roleId ?? ''];
      expect(role?.Properties['ManagedPolicyArns']).toBeUndefined();
      const otherFunctions = ALL_HANDLERS.filter((other) => other !== name);
      for (const other of otherFunctions) {
        expect(refTarget(functionResource(dev, other).Properties['Role']), other).not.toBe(roleId);
      }
      const logGroupId = refTarget((fn.Properties['LoggingConfig'] as { LogGroup: unknown }).LogGroup);
      for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
        expect(allowedTargets(dev, name, action), action).toEqual([logGroupId]);
      }
    },
  );

  it('X-Ray writes are the only wildcard-resource grants, besides the stream lookup of the fan-out', () => {
    for (const name of ALL_HANDLERS) {
      const wildcardActions = statementsOf(dev, name)
        .filter((statement) => statement.resources.includes('*'))
        .flatMap((statement) => statement.actions)
        .sort();
      const expected = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
      if (name === 'stream-fanout') expected.unshift('dynamodb:ListStreams');
      expect(wildcardActions, name).toEqual(expected);
    }
  });

  it('the OpenAPI handler has no DynamoDB access at all', () => {
    expect(handlerAccess('openapi').billingTable).toBe('none');
    expect(allowedTargets(dev, 'openapi', 'dynamodb:GetItem')).toEqual([]);
  });

  it('every handler declares what it reaches', () => {
    for (const name of ALL_HANDLERS) expect(() => handlerAccess(name), name).not.toThrow();
  });

  it('only the fan-out may put events, and only on the billing bus', () => {
    for (const name of ALL_HANDLERS) {
      expect(allowedTargets(dev, name, 'events:PutEvents'), name).toEqual(
        name === 'stream-fanout' ? [busId] : [],
      );
    }
  });

  it('the fan-out reads the stream but cannot write the table', () => {
    expect(allowedTargets(dev, 'stream-fanout', 'dynamodb:GetRecords')).toEqual([billingTableId]);
    expect(allowedTargets(dev, 'stream-fanout', 'dynamodb:PutItem')).toEqual([]);
  });

  it('the sync writes the two SmartGateway tables and cannot touch the billing table', () => {
    expect(allowedTargets(dev, 'smart-gateway-sync', 'dynamodb:PutItem')).toEqual(
      [budgetsTableId, routingTableId].sort(),
    );
    expect(allowedTargets(dev, 'smart-gateway-sync', 'dynamodb:GetItem')).not.toContain(billingTableId);
  });

  it('no handler may write the SmartGateway tables except the sync', () => {
    for (const name of ALL_HANDLERS.filter((handler) => handler !== 'smart-gateway-sync')) {
      const targets = allowedTargets(dev, name, 'dynamodb:PutItem');
      expect(targets, name).not.toContain(budgetsTableId);
      expect(targets, name).not.toContain(routingTableId);
    }
  });
});

describe('Lambda invoke permissions', () => {
  const permissions = ofType(dev, 'AWS::Lambda::Permission');

  it('every one of them names the stack account as SourceAccount (no other account may use the grant)', () => {
    expect(permissions.length).toBeGreaterThan(0);
    for (const [id, permission] of permissions) {
      expect(permission.Properties['SourceAccount'], id).toEqual(dev.stack.resolve(dev.stack.account));
    }
  });

  it('they are all granted to services, API Gateway and EventBridge, each scoped to its source ARN', () => {
    const principals = new Set(permissions.map(([, permission]) => permission.Properties['Principal']));
    expect(principals).toEqual(new Set(['apigateway.amazonaws.com', 'events.amazonaws.com']));
    for (const [id, permission] of permissions) expect(permission.Properties['SourceArn'], id).toBeDefined();
  });

  it('leaves permissions to an account alone, and a source account set at the grant', () => {
    const stack = new Stack(new App(), 'Probe', { env: { account: '111111111111', region: 'eu-west-1' } });
    const permission = (id: string, principal: string, sourceAccount?: string) =>
      new CfnPermission(stack, id, {
        action: 'lambda:InvokeFunction',
        functionName: 'probe',
        principal,
        ...(sourceAccount ? { sourceAccount } : {}),
      });
    permission('Service', 's3.amazonaws.com');
    permission('Account', '222222222222');
    permission('Explicit', 'sns.amazonaws.com', '333333333333');
    Aspects.of(stack).add(new ServicePermissionSourceAccount());
    const resources = Template.fromStack(stack).toJSON().Resources as Record<
      string,
      { Properties: Record<string, unknown> }
    >;
    expect(resources['Service']?.Properties['SourceAccount']).toBe('111111111111');
    expect(resources['Account']?.Properties).not.toHaveProperty('SourceAccount');
    expect(resources['Explicit']?.Properties['SourceAccount']).toBe('333333333333');
  });
});

describe('Stripe secret', () => {
  const stripeHandlers = ALL_HANDLERS.filter((name) => handlerAccess(name).stripeSecret);

  it('is billing/<stage>/stripe, created with a generated placeholder, never a literal value', () => {
    expect(secret.Properties).toMatchObject({
      Name: 'billing/dev/stripe',
      GenerateSecretString: { GenerateStringKey: expect.any(String) },
    });
    expect(secret.Properties).not.toHaveProperty('SecretString');
  });

  it('covers the webhook and customer creation', () => {
    expect(stripeHandlers).toContain('stripe-webhook');
    expect(stripeHandlers).toContain('customers-create');
  });

  it.each(ALL_HANDLERS)('%s: has the ARN and read access only if it calls Stripe', (name) => {
    const env = environmentOf(dev, name);
    const reads = allowedTargets(dev, name, 'secretsmanager:GetSecretValue');
    if (handlerAccess(name).stripeSecret) {
      expect(refTarget(env['STRIPE_SECRET_ARN'])).toBe(secretId);
      expect(reads).toEqual([secretId]);
    } else {
      expect(env).not.toHaveProperty('STRIPE_SECRET_ARN');
      expect(reads).toEqual([]);
    }
  });

  it('no function environment holds anything that looks like a Stripe key', () => {
    for (const [id, fn] of ofType(dev, 'AWS::Lambda::Function')) {
      expect(JSON.stringify(fn.Properties['Environment'] ?? {}), id).not.toMatch(/sk_|rk_|whsec_/);
    }
  });

  it('the whole template holds no Stripe credential', () => {
    expect(JSON.stringify(template.toJSON())).not.toMatch(/\b[sr]k_(live|test)_|\bwhsec_[A-Za-z0-9]/);
  });
});

describe('outputs', () => {
  it.each([
    ['ApiUrl', undefined],
    ['TableName', billingTableId],
    ['EventBusName', busId],
    ['BudgetsTableName', budgetsTableId],
    ['RoutingPoliciesTableName', routingTableId],
    ['StripeSecretArn', secretId],
    ['AlarmTopicArn', only(dev, 'AWS::SNS::Topic')[0]],
  ])('exports %s', (name, target) => {
    const output = dev.outputs[name];
    expect(output).toBeDefined();
    if (target !== undefined) expect(refTarget(output?.Value)).toBe(target);
  });
});
