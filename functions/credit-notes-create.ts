import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { creditNoteContracts } from '../shared/schemas/credit-notes.ts';
import { issueCreditNote } from '../shared/use-cases/invoicing/issue-credit-note.ts';

export const handler = apiHandler(
  {
    name: 'credit-notes-create',
    contract: creditNoteContracts['credit-notes-create'],
    scopes: [SCOPES.invoicesWrite],
  },
  ({ params, body, caller, idempotency }) =>
    issueCreditNote(config().tableName, params.id, body, caller, idempotency),
);
