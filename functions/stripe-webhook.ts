import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import Stripe from 'stripe';
import { config } from '../shared/config.ts';
import { DomainError } from '../shared/domain/errors.ts';
import { jsonResponse } from '../shared/http/api-handler.ts';
import { type ApiEvent, bodyLimit, problemErrors } from '../shared/http/middlewares.ts';
import { count, METRIC, observability } from '../shared/observability.ts';
import { stripeCredentials } from '../shared/payments/stripe-credentials.ts';
import { webhookContracts } from '../shared/schemas/webhooks.ts';
import { receiveStripeEvent, type StripeEventOutcome } from '../shared/use-cases/stripe-events.ts';

/** Stripe's default: a signature older than five minutes is refused, which stops replays. */
const SIGNATURE_TOLERANCE_SECONDS = 300;
const MAX_WEBHOOK_BYTES = 512 * 1024;

const OUTCOME_METRIC = {
  processed: METRIC.stripeWebhookProcessed,
  ignored: METRIC.stripeWebhookIgnored,
  duplicate: METRIC.stripeWebhookDuplicate,
} as const satisfies Record<StripeEventOutcome, string>;

/**
 * No JWT on this route: Stripe authenticates by signing the raw body. The signature is checked
 * over the body exactly as received, before anything else reads it; then the event is processed
 * once (shared/use-cases/stripe-events.ts). Anything but a 2xx makes Stripe redeliver.
 */
async function receive(event: ApiEvent): Promise<APIGatewayProxyStructuredResultV2> {
  const { webhookSecret } = await stripeCredentials();
  if (!webhookSecret) {
    count(METRIC.stripeWebhookRejected);
    throw new DomainError(
      'service-unavailable',
      'Stripe webhooks are not configured (no webhook signing secret)',
    );
  }
  const signature = event.headers?.['stripe-signature'];
  if (!signature || event.rawBody === undefined) {
    count(METRIC.stripeWebhookRejected);
    throw new DomainError('validation', 'A signed Stripe payload is required', [
      { field: 'Stripe-Signature', message: 'is required' },
    ]);
  }
  let stripeEvent: Stripe.Event;
  try {
    stripeEvent = Stripe.webhooks.constructEvent(
      event.rawBody,
      signature,
      webhookSecret,
      SIGNATURE_TOLERANCE_SECONDS,
    );
  } catch (error) {
    count(METRIC.stripeWebhookRejected);
    throw new DomainError('validation', `The Stripe signature does not verify: ${(error as Error).message}`, [
      { field: 'Stripe-Signature', message: 'does not match the payload, or is too old' },
    ]);
  }
  const outcome = await receiveStripeEvent(
    config().tableName,
    stripeEvent,
    new Date(event.requestContext?.timeEpoch ?? Date.now()),
    event.requestContext.requestId,
  );
  count(OUTCOME_METRIC[outcome]);
  return jsonResponse(webhookContracts['stripe-webhook'].success.status, {
    received: true,
    event_id: typeof stripeEvent?.id === 'string' ? stripeEvent.id : '',
    duplicate: outcome === 'duplicate',
    outcome,
  });
}

export const handler = middy<ApiEvent, APIGatewayProxyStructuredResultV2>()
  .use(observability())
  .use(problemErrors())
  .use(bodyLimit(MAX_WEBHOOK_BYTES))
  .handler(receive);
