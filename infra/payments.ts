import { Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { StageConfig } from './stage-config.ts';

export type PaymentsProps = {
  readonly config: StageConfig;
  /** Lambdas that get read access to the secret and its ARN in STRIPE_SECRET_ARN. */
  readonly stripeFunctions: readonly lambda.Function[];
};

/**
 * The Stripe credentials secret `billing/<stage>/stripe`: JSON `{ secret_key, webhook_secret }`. The
 * stack creates it with generated placeholders, which the handlers treat as "Stripe not configured"
 * (real values start with `sk_` / `whsec_`); an operator puts the real values after deploy. Only the
 * ARN ever reaches a Lambda's environment or the template.
 */
export class Payments extends Construct {
  readonly stripeSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: PaymentsProps) {
    super(scope, id);
    this.stripeSecret = new secretsmanager.Secret(this, 'StripeSecret', {
      secretName: `billing/${props.config.stage}/stripe`,
      description:
        'Stripe credentials of the billing service, JSON with secret_key and webhook_secret. Created with ' +
        'placeholders; put the real values with `aws secretsmanager put-secret-value` (see infra/README.md).',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ secret_key: 'placeholder' }),
        generateStringKey: 'webhook_secret',
        excludePunctuation: true,
        passwordLength: 32,
      },
      removalPolicy: props.config.removalPolicy,
    });
    Validations.of(this.stripeSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Stripe API keys and webhook signing secrets are issued and rolled in the Stripe dashboard, not ' +
        'by an AWS rotation Lambda; an operator puts the new values with put-secret-value (infra/README.md).',
    });
    for (const fn of props.stripeFunctions) {
      this.stripeSecret.grantRead(fn);
      fn.addEnvironment('STRIPE_SECRET_ARN', this.stripeSecret.secretArn);
    }
  }
}
