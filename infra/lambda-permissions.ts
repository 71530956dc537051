import { type IAspect, Stack } from 'aws-cdk-lib';
import { CfnPermission } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';

/**
 * Every Lambda permission granted to an AWS service principal (`events.amazonaws.com`,
 * `apigateway.amazonaws.com`, ...) also names the stack's account as `SourceAccount`, so only that
 * service acting for this account may invoke the function: the confused-deputy guard AWS recommends
 * next to `SourceArn`. The permissions are made by CDK inside the grants (HttpLambdaIntegration, the
 * EventBridge Lambda target), which offer no source-account option; this aspect, applied once by
 * BillingStack, covers them all, including ones a future construct adds. A permission that already
 * names a source account keeps it; permissions to accounts or roles (not services) are left alone.
 */
export class ServicePermissionSourceAccount implements IAspect {
  visit(node: IConstruct): void {
    if (!(node instanceof CfnPermission) || node.sourceAccount !== undefined) return;
    if (!isServicePrincipal(Stack.of(node).resolve(node.principal))) return;
    node.sourceAccount = Stack.of(node).account;
  }
}

/**
 * `<service>.amazonaws.com` (`.amazonaws.com.cn` in China regions): an AWS service principal. Resolved
 * first, so a principal built from tokens (an account or role ARN) is an object here, not a string.
 */
function isServicePrincipal(principal: unknown): boolean {
  return typeof principal === 'string' && /^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$/.test(principal);
}
