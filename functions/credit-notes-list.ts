import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { creditNoteContracts } from '../shared/schemas/credit-notes.ts';
import { listCreditNotes } from '../shared/use-cases/invoicing/credit-notes.ts';

export const handler = apiHandler(
  {
    name: 'credit-notes-list',
    contract: creditNoteContracts['credit-notes-list'],
    scopes: [SCOPES.invoicesRead],
  },
  ({ params, caller }) => listCreditNotes(config().tableName, params.id, caller.principal),
);
