import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { config } from '../config.ts';

export type StripeCredentials = { secretKey: string | undefined; webhookSecret: string | undefined };

let cached: Promise<StripeCredentials> | undefined;

/**
 * Stripe credentials come from Secrets Manager in AWS (the stack passes only the secret's ARN) and
 * from the environment locally. Read once per container; never logged, never in the template.
 */
export function stripeCredentials(): Promise<StripeCredentials> {
  cached ??= load().catch((error) => {
    cached = undefined; // a transient Secrets Manager failure must not stick for the container's life
    throw error;
  });
  return cached;
}

async function load(): Promise<StripeCredentials> {
  const { stripeSecretArn, stripeSecretKey, stripeWebhookSecret, region } = config();
  if (!stripeSecretArn) return { secretKey: stripeSecretKey, webhookSecret: stripeWebhookSecret };
  const { SecretString } = await new SecretsManagerClient({ region }).send(
    new GetSecretValueCommand({ SecretId: stripeSecretArn }),
  );
  const secret = parseSecret(SecretString);
  return {
    secretKey: usable(secret.secret_key, ['sk_', 'rk_']),
    webhookSecret: usable(secret.webhook_secret, ['whsec_']),
  };
}

function parseSecret(value: string | undefined): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(value ?? '{}');
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The stack seeds the secret with a generated placeholder; only real Stripe values count as configured. */
function usable(value: unknown, prefixes: readonly string[]): string | undefined {
  return typeof value === 'string' && prefixes.some((prefix) => value.startsWith(prefix)) ? value : undefined;
}

export function resetStripeCredentials(): void {
  cached = undefined;
}
