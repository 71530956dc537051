import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { CreditNote } from '../domain/credit-note.ts';
import { type AuditDraft, auditPut } from './audit.ts';
import { dynamo } from './client.ts';
import { sequenceMove } from './invoices-repository.ts';
import { withoutKeys } from './items.ts';
import {
  byOwnerKey,
  byOwnerPartition,
  byOwnerPrefix,
  creditNoteCounterKey,
  creditNoteKey,
  invoiceKey,
} from './keys.ts';
import { queryAll } from './list-pages.ts';
import type { TransactItem } from './transact.ts';

const ITEM_TYPE = 'credit_note';

/** Credit notes (shared/domain/credit-note.ts): written with the invoice they change, never edited. */
export class CreditNotesRepository {
  constructor(private readonly tableName: string) {}

  async get(creditNoteId: string): Promise<CreditNote | undefined> {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: this.tableName, Key: creditNoteKey(creditNoteId), ConsistentRead: true }),
    );
    return Item ? withoutKeys<CreditNote>(Item) : undefined;
  }

  /** The invoice's credit notes, oldest first (at most MAX_CREDIT_NOTES_PER_INVOICE). */
  async ofInvoice(invoiceId: string): Promise<CreditNote[]> {
    const notes = await queryAll<CreditNote>({
      TableName: this.tableName,
      IndexName: 'GSI1',
      KeyConditionExpression: 'GSI1PK = :owner AND begins_with(GSI1SK, :prefix)',
      ExpressionAttributeValues: {
        ':owner': byOwnerPartition(invoiceKey(invoiceId)),
        ':prefix': byOwnerPrefix(ITEM_TYPE),
      },
    });
    return notes;
  }

  async lastNumber(customerId: string): Promise<number> {
    const { Item } = await dynamo().send(
      new GetCommand({
        TableName: this.tableName,
        Key: creditNoteCounterKey(customerId),
        ConsistentRead: true,
      }),
    );
    return typeof Item?.last_number === 'number' ? Item.last_number : 0;
  }

  /**
   * The items that issue a note numbered `sequence`: the note (only if its id is new), the customer's
   * credit-note counter moving to `sequence` (so numbers stay gapless), and its audit entry.
   */
  issueItems(note: CreditNote, sequence: number, audit: AuditDraft): TransactItem[] {
    return [
      {
        Put: {
          TableName: this.tableName,
          Item: {
            ...creditNoteKey(note.id),
            ...byOwnerKey(invoiceKey(note.invoice_id), ITEM_TYPE, note.created_at, note.id),
            item_type: ITEM_TYPE,
            ...note,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        },
      },
      sequenceMove(this.tableName, creditNoteCounterKey(note.customer_id), sequence, 'credit_note_counter'),
      auditPut(this.tableName, creditNoteKey(note.id), audit),
    ];
  }
}
