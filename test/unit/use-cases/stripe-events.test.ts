import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { invoiceKey, stripeEventKey } from '../../../shared/store/keys.ts';
import { receiveStripeEvent } from '../../../shared/use-cases/stripe-events.ts';
import { mockedStore } from '../../support/mocked-store.ts';

/** The failure path of the webhook: the store fails while the payment is written. */
const dynamo = mockedStore();

const openInvoice = {
  ...invoiceKey('in_1'),
  id: 'in_1',
  customer_id: 'c1',
  subscription_id: 's1',
  status: 'open',
  currency: 'USD',
  amount_due: 2500,
  stripe_payment_intent_id: null,
  payment_attempts: 0,
  last_payment_error: null,
  pending_payment: null,
  version: 2,
};

const succeeded = {
  id: 'evt_1',
  object: 'event',
  type: 'payment_intent.succeeded',
  created: 1_780_000_000,
  livemode: false,
  data: {
    object: {
      id: 'pi_1',
      object: 'payment_intent',
      amount: 2500,
      amount_received: 2500,
      currency: 'usd',
      metadata: { billing_invoice_id: 'in_1', billing_attempt: '1' },
    },
  },
} as unknown as Stripe.Event;

describe('a Stripe event whose processing fails', () => {
  it('is not marked as received, so the redelivery processes it', async () => {
    dynamo.on(GetCommand).resolves({});
    dynamo.on(GetCommand, { Key: invoiceKey('in_1') }).resolves({ Item: openInvoice });
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
      name: 'ThrottlingException',
    });
    dynamo.on(TransactWriteCommand).rejects(throttled);

    await expect(receiveStripeEvent('unit', succeeded, new Date())).rejects.toThrow(/throughput/);
    const receipts = dynamo
      .commandCalls(PutCommand)
      .filter((call) => call.args[0].input.Item?.PK === stripeEventKey('evt_1').PK);
    expect(receipts).toHaveLength(0);
  });

  it('is marked as received after it was processed', async () => {
    dynamo.on(GetCommand).resolves({});
    dynamo.on(GetCommand, { Key: invoiceKey('in_1') }).resolves({ Item: openInvoice });
    dynamo.on(TransactWriteCommand).resolves({});
    dynamo.on(PutCommand).resolves({});

    expect(await receiveStripeEvent('unit', succeeded, new Date())).toBe('processed');
    const order = dynamo.calls().map((call) => call.args[0].constructor.name);
    const paidAt = order.indexOf('TransactWriteCommand');
    const receiptAt = order.lastIndexOf('PutCommand');
    expect(paidAt).toBeGreaterThanOrEqual(0);
    expect(receiptAt).toBeGreaterThan(paidAt);
    const paid = dynamo.commandCalls(TransactWriteCommand)[0]!.args[0].input.TransactItems!;
    expect(paid.map((item) => item.Put?.Item?.item_type)).toEqual(
      expect.arrayContaining(['invoice', 'payment', 'audit']),
    );
  });
});

describe('a signed Stripe event that is malformed', () => {
  it.each([
    ['{}', {}],
    ['no type', { id: 'evt_1', data: { object: {} } }],
    ['no data.object', { id: 'evt_1', type: 'payment_intent.succeeded', data: {} }],
    ['null', null],
    ['an array', []],
    ['no created', { id: 'evt_1', type: 'payment_intent.succeeded', livemode: false, data: { object: {} } }],
    [
      'a created that is no time',
      {
        id: 'evt_1',
        type: 'payment_intent.succeeded',
        created: 'soon',
        livemode: false,
        data: { object: {} },
      },
    ],
    [
      'a created past any date',
      { id: 'evt_1', type: 'payment_intent.succeeded', created: 1e20, livemode: false, data: { object: {} } },
    ],
    ['no livemode', { id: 'evt_1', type: 'payment_intent.succeeded', created: 1, data: { object: {} } }],
  ])('%s is ignored (a 2xx, so Stripe stops redelivering) and touches nothing', async (_name, event) => {
    expect(await receiveStripeEvent('unit', event, new Date())).toBe('ignored');
    expect(dynamo.calls()).toHaveLength(0);
  });
});
