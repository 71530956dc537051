import { config } from '../shared/config.ts';
import { apiHandler } from '../shared/http/api-handler.ts';
import { SCOPES } from '../shared/http/routes.ts';
import { invoiceDocumentContracts } from '../shared/schemas/invoice-documents.ts';
import { revokeHostedLinks } from '../shared/use-cases/documents/hosted-invoice-links.ts';

export const handler = apiHandler(
  {
    name: 'hosted-links-revoke',
    contract: invoiceDocumentContracts['hosted-links-revoke'],
    scopes: [SCOPES.invoicesWrite],
  },
  ({ params, caller }) => revokeHostedLinks(config().tableName, params.id, caller),
);
