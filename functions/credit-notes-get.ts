import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { creditNoteContracts } from '../shared/schemas/credit-notes.ts';
import { getCreditNote } from '../shared/use-cases/invoicing/credit-notes.ts';

export const handler = apiHandler(
  {
    name: 'credit-notes-get',
    contract: creditNoteContracts['credit-notes-get'],
    scopes: [SCOPES.invoicesRead],
  },
  ({ params, caller }) => getCreditNote(config().tableName, params.id, caller.principal),
);
