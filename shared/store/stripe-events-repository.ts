import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { dynamo } from './client.ts';
import { stripeEventKey } from './keys.ts';

export type StripeEventReceipt = {
  event_id: string;
  type: string;
  object_id: string | null;
  livemode: boolean;
  stripe_created: number;
  received_at: string;
  outcome: string;
};

/** Stripe delivers at least once: each event id is recorded once, and a redelivery is recognised. */
export class StripeEventsRepository {
  constructor(private readonly tableName: string) {}

  /** Whether this event id was already processed. */
  async seen(eventId: string): Promise<boolean> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: stripeEventKey(eventId), ConsistentRead: true }),
    );
    return Item !== undefined;
  }

  /** True when this is the first time the event id was seen. */
  async recordReceipt(receipt: StripeEventReceipt): Promise<boolean> {
    try {
      await dynamo().send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...stripeEventKey(receipt.event_id), item_type: 'stripe_event', ...receipt },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
