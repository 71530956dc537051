import { Aws, CfnParameter, Duration, type NestedStack, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { StageConfig } from './stage-config.ts';

export type DocumentsBucketProps = { readonly config: StageConfig };

/**
 * Where invoice PDFs are kept (shared/store/documents.ts): private (all public access blocked, TLS
 * only, S3-managed encryption), versioned, and kept when the stack is deleted in every stage, dev too:
 * an invoice as issued is a record finance must be able to produce for years, and a stack's deletion
 * must not take it away (delete the bucket by hand to be rid of it).
 */
export class DocumentsBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, _props: DocumentsBucketProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      // Documents are written once; a version replaced by a put that lost no race is kept 30 days.
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
    });
    // An issued invoice's PDF is never replaced: a put must be the conditional one that fails when
    // the key exists (If-None-Match: *, which shared/store/documents.ts sends), whoever makes it.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('invoices/*')],
        conditions: { Null: { 's3:if-none-match': 'true' } },
      }),
    );
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'Only the billing Lambdas reach this bucket, through their roles (GetObject and PutObject under ' +
        'invoices/); nothing is public. Server access logs would need a second bucket for records that ' +
        'CloudTrail data events give, where an account enables them.',
    });
  }

  /**
   * Lets `functions` (in the nested stack) get and put invoice PDFs, and names the bucket to them in
   * DOCUMENTS_BUCKET. The bucket reaches the nested stack through a parameter named here, so that the
   * grant's `invoices/*` wildcard has a stable name to acknowledge.
   */
  grantDocuments(nested: NestedStack, functions: readonly lambda.Function[]): void {
    if (functions.length === 0) return;
    const parameterName = 'DocumentsBucketName';
    const parameter = new CfnParameter(nested, parameterName, {
      type: 'String',
      description: 'Name of the documents bucket (the parent stack passes it)',
    });
    nested.setParameter(parameterName, this.bucket.bucketName);
    for (const fn of functions) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject', 's3:PutObject'],
          resources: [`arn:${Aws.PARTITION}:s3:::${parameter.valueAsString}/invoices/*`],
        }),
      );
      // Without ListBucket, S3 answers a GetObject of a key not stored yet with 403 AccessDenied, not
      // 404 NoSuchKey, and a PDF not rendered yet could never be told from a refusal. Unconditioned: a
      // GetObject carries no s3:prefix, so a prefix condition would not count (the keys are invoice ids).
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [`arn:${Aws.PARTITION}:s3:::${parameter.valueAsString}`],
        }),
      );
      fn.addEnvironment('DOCUMENTS_BUCKET', parameter.valueAsString);
      Validations.of(fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<${parameterName}>/invoices/*]`,
        reason:
          'Invoice PDFs are stored one object per invoice under invoices/<invoice id>/; the handler gets and ' +
          'puts only those (GetObject, PutObject), in this one bucket.',
      });
    }
  }
}
