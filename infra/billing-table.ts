import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { BILLING_TABLE, type KeyedTableDefinition } from '../shared/store/table-definition.ts';
import type { StageConfig } from './stage-config.ts';

export type BillingTableProps = { readonly config: StageConfig };

/**
 * The service's single DynamoDB table (shape from shared/store/table-definition.ts): on-demand,
 * point-in-time recovery, TTL on `expires_at`, and a NEW_AND_OLD_IMAGES stream feeding the event fan-out.
 */
export class BillingTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: BillingTableProps) {
    super(scope, id);
    this.table = keyedTable(this, 'Table', BILLING_TABLE, `billing-${props.config.stage}`, props.config, {
      stream: dynamodb.StreamViewType[BILLING_TABLE.streamViewType],
      timeToLiveAttribute: BILLING_TABLE.ttlAttribute,
    });
  }
}

/**
 * A PAY_PER_REQUEST table with string keys from a shared definition, PITR on, every GSI projecting ALL,
 * and the stage's deletion protection and removal policy.
 */
export function keyedTable(
  scope: Construct,
  id: string,
  definition: KeyedTableDefinition,
  tableName: string,
  config: StageConfig,
  extra: Partial<dynamodb.TableProps> = {},
): dynamodb.Table {
  const table = new dynamodb.Table(scope, id, {
    tableName,
    partitionKey: { name: definition.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: definition.sortKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: config.deletionProtection,
    removalPolicy: config.removalPolicy,
    ...extra,
  });
  for (const index of definition.globalSecondaryIndexes ?? []) {
    table.addGlobalSecondaryIndex({
      indexName: index.indexName,
      partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
  }
  return table;
}
