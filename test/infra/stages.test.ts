import { describe, expect, it } from 'vitest';
import { type CfnResource, ofType, only, type Synthesized, synthStage } from './support.ts';

const dev = synthStage('dev');
const prod = synthStage('prod', { alarmEmail: 'billing-oncall@example.com' });

/** Types whose resources hold data or history that must outlive a prod stack. */
const STATEFUL = [
  'AWS::DynamoDB::Table',
  'AWS::SecretsManager::Secret',
  'AWS::SQS::Queue',
  'AWS::Logs::LogGroup',
] as const;

/** Every physical name the stack sets itself (the rest are generated from the stack name). */
function physicalNames(synth: Synthesized): string[] {
  const pick = (type: string, property: string) =>
    ofType(synth, type).map(([, resource]) => String(resource.Properties[property]));
  return [
    synth.stack.stackName,
    ...pick('AWS::DynamoDB::Table', 'TableName'),
    ...pick('AWS::Events::EventBus', 'Name'),
    ...pick('AWS::SecretsManager::Secret', 'Name'),
    ...pick('AWS::ApiGatewayV2::Api', 'Name'),
    ...pick('AWS::ApiGatewayV2::Authorizer', 'Name'),
  ];
}

const statefulResources = (synth: Synthesized): [string, CfnResource][] =>
  STATEFUL.flatMap((type) => ofType(synth, type));

describe('stages side by side', () => {
  it('names the stacks Billing-<stage>', () => {
    expect(dev.stack.stackName).toBe('Billing-dev');
    expect(prod.stack.stackName).toBe('Billing-prod');
  });

  it('gives the two stages disjoint physical names, each containing its stage', () => {
    const devNames = physicalNames(dev);
    const prodNames = physicalNames(prod);
    expect(devNames).toHaveLength(prodNames.length);
    expect(devNames.filter((name) => prodNames.includes(name))).toEqual([]);
    for (const name of devNames) expect(name).toContain('dev');
    for (const name of prodNames) expect(name).toContain('prod');
  });

  it('names tables and buses per stage', () => {
    expect(only(dev, 'AWS::Events::EventBus')[1].Properties['Name']).toBe('billing-dev');
    expect(only(prod, 'AWS::Events::EventBus')[1].Properties['Name']).toBe('billing-prod');
    expect(only(dev, 'AWS::DynamoDB::Table', 'BillingTable')[1].Properties['TableName']).toBe('billing-dev');
    expect(only(prod, 'AWS::DynamoDB::Table', 'BillingTable')[1].Properties['TableName']).toBe(
      'billing-prod',
    );
  });
});

describe('prod keeps its data', () => {
  it('turns on deletion protection on every table', () => {
    const tables = ofType(prod, 'AWS::DynamoDB::Table');
    expect(tables).toHaveLength(3);
    for (const [id, table] of tables) expect(table.Properties['DeletionProtectionEnabled'], id).toBe(true);
  });

  it('retains every stateful resource on delete and on replacement', () => {
    for (const [id, resource] of statefulResources(prod)) {
      expect(resource.DeletionPolicy, id).toBe('Retain');
      expect(resource.UpdateReplacePolicy, id).toBe('Retain');
    }
  });

  it('enables stack termination protection', () => {
    expect(prod.stack.terminationProtection).toBe(true);
  });

  it('uses the prod block of cdk.json (log retention, throttling)', () => {
    for (const [id, group] of ofType(prod, 'AWS::Logs::LogGroup')) {
      expect(group.Properties['RetentionInDays'], id).toBe(365);
    }
    prod.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
    });
  });

  it('e-mails alarms to alarmEmail', () => {
    prod.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'billing-oncall@example.com',
    });
    const [topicId] = only(prod, 'AWS::SNS::Topic');
    for (const [id, alarm] of ofType(prod, 'AWS::CloudWatch::Alarm')) {
      expect(alarm.Properties['AlarmActions'], id).toEqual([{ Ref: topicId }]);
    }
  });
});

describe('dev can be torn down', () => {
  it('has no deletion protection on any table', () => {
    for (const [id, table] of ofType(dev, 'AWS::DynamoDB::Table')) {
      expect(table.Properties['DeletionProtectionEnabled'] ?? false, id).toBe(false);
    }
  });

  it('deletes every stateful resource with the stack', () => {
    const resources = statefulResources(dev);
    expect(resources.length).toBeGreaterThan(0);
    for (const [id, resource] of resources) expect(resource.DeletionPolicy, id).toBe('Delete');
  });

  it('has no termination protection', () => {
    expect(dev.stack.terminationProtection).toBe(false);
  });
});
