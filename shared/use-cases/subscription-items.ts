import type { PlanFees } from '../domain/bills.ts';
import { DomainError, type FieldError, validationError } from '../domain/errors.ts';
import { MAX_PENDING_ITEMS_PER_INVOICE } from '../domain/invoice.ts';
import type { Subscription } from '../domain/subscription.ts';
import {
  feesOf,
  type ItemChoice,
  type ItemField,
  itemsField,
  liveItems,
} from '../domain/subscription-items.ts';
import { SubscriptionsRepository } from '../store/subscriptions-repository.ts';
import { getPlanFee, planFeesFor } from './catalog.ts';

/** What a request names: one plan (`plan_id`, the shorthand) or every item (`items`). */
export type ItemsRequest = {
  plan_id?: string | undefined;
  items?: readonly { plan_id: string; quantity?: number | undefined }[] | undefined;
};

/** Where the request named its items, for errors. */
export const fieldOf = (request: ItemsRequest): ItemField => (request.items ? itemsField : shorthandField);

/**
 * The plans a request names, read from the catalog (once per request, whatever retries follow):
 * undefined when it names none.
 */
export async function namedItems(
  tableName: string,
  request: ItemsRequest,
): Promise<ItemChoice[] | undefined> {
  if (request.items === undefined && request.plan_id === undefined) return undefined;
  return itemChoices(
    tableName,
    request.items ?? [{ plan_id: request.plan_id!, quantity: 1 }],
    fieldOf(request),
  );
}

/** The items a request asks `current` to hold, from the catalog (see wantedItems). */
export async function requestedItems(
  tableName: string,
  current: Subscription,
  request: ItemsRequest,
): Promise<ItemChoice[] | undefined> {
  const named = await namedItems(tableName, request);
  return named && wantedItems(tableName, current, named, request);
}

/** Where the one-item shorthand names its plan: errors about item 0 point at `plan_id`. */
export const shorthandField: ItemField = (index, name) =>
  index === 0 && name === 'plan_id' ? 'plan_id' : `items.${index}.${name}`;

/** The requested plans from the catalog, each with its quantity; an unknown plan is its field's error. */
export async function itemChoices(
  tableName: string,
  requested: readonly { plan_id: string; quantity?: number | undefined }[],
  field: ItemField,
): Promise<ItemChoice[]> {
  const unknown: FieldError[] = [];
  const choices = await Promise.all(
    requested.map(async (item, i) => {
      try {
        const { plan, fee, metrics } = await getPlanFee(tableName, item.plan_id);
        return { plan, fee, metrics, quantity: item.quantity ?? 1 };
      } catch (error) {
        if (!(error instanceof DomainError && error.kind === 'not-found')) throw error;
        unknown.push({ field: field(i, 'plan_id'), message: `no plan ${item.plan_id}` });
        return undefined;
      }
    }),
  );
  if (unknown.length > 0) throw validationError(unknown);
  return choices as ItemChoice[];
}

/**
 * The items a PATCH asks for: its `items`, each plan already on the subscription keeping its
 * quantity unless one is sent; or, for the `plan_id` shorthand, the current items with the base
 * one's plan replaced (its quantity and the add-ons stay; their plans are read as they are now).
 */
export async function wantedItems(
  tableName: string,
  current: Subscription,
  requested: readonly ItemChoice[],
  request: ItemsRequest,
): Promise<ItemChoice[]> {
  const live = liveItems(current.items);
  if (request.items) {
    return requested.map((choice, i) => ({
      ...choice,
      quantity:
        request.items![i]!.quantity ?? live.find((item) => item.plan_id === choice.plan.id)?.quantity ?? 1,
    }));
  }
  const [base, ...addOns] = live;
  const kept = await itemChoices(tableName, addOns, itemsField);
  return [
    { ...requested[0]!, quantity: base?.quantity ?? 1, replaces: base?.plan_id },
    ...kept.map((c, i) => ({ ...c, quantity: addOns[i]!.quantity })),
  ];
}

/**
 * One invoice takes a bounded number of pending items (each is an item of the transaction that
 * drafts it), so pending items that would pass that bound are refused with what to do instead (`instead`:
 * the field to change and how): a final invoice must be able to take every pending item of its
 * subscription.
 */
export async function roomForPendingItems(
  tableName: string,
  current: Subscription,
  adding: number,
  instead: { field: string; advice: string } = {
    field: 'proration_behavior',
    advice: 'change plan with "proration_behavior": "always_invoice" to bill them now',
  },
): Promise<void> {
  const waiting = (await new SubscriptionsRepository(tableName).pendingItems(current.id)).length;
  if (waiting + adding <= MAX_PENDING_ITEMS_PER_INVOICE) return;
  throw new DomainError(
    'conflict',
    `Subscription ${current.id} already has ${waiting} items (prorations, one-time items) waiting for its next invoice, at most ${MAX_PENDING_ITEMS_PER_INVOICE}; ${instead.advice}`,
    [
      {
        field: instead.field,
        message: `already ${waiting} items wait for the next invoice: ${instead.advice}`,
      },
    ],
  );
}

/**
 * The fees a change of `current` to `choices` is billed with: the requested plans' as read with
 * them, and every other plan of its items (removed ones, those kept to the period's end) read once.
 */
export async function feesForChange(
  tableName: string,
  current: Subscription,
  choices: readonly ItemChoice[],
): Promise<PlanFees> {
  const others = current.items
    .map((item) => item.plan_id)
    .filter((planId) => !choices.some((choice) => choice.plan.id === planId));
  return feesOf(choices, await planFeesFor(tableName, others));
}
