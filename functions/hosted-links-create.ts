import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceDocumentContracts } from '../shared/schemas/invoice-documents.ts';
import { createHostedLink } from '../shared/use-cases/documents/hosted-invoice-links.ts';

export const handler = apiHandler(
  {
    name: 'hosted-links-create',
    contract: invoiceDocumentContracts['hosted-links-create'],
    scopes: [SCOPES.invoicesWrite],
  },
  ({ params, body, caller, origin }) => createHostedLink(config().tableName, params.id, body, caller, origin),
);
