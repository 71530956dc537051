import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { config } from '../config.ts';
import { hostedPageHeaders, renderHostedErrorPage } from '../documents/invoice-page.ts';
import { DomainError } from '../domain/errors.ts';
import { observability } from '../observability.ts';
import {
  type HostedInvoice,
  hostedInvoice,
  LinkWithdrawn,
} from '../use-cases/documents/hosted-invoice-links.ts';
import { DocumentResult } from './api-handler.ts';
import { type ApiEvent, problemErrors } from './middlewares.ts';

/**
 * The handler shape of the public hosted-invoice routes (no authorizer: the link's token is the
 * credential). The token opens its invoice, or the answer is a page a person can read: 404 for a link
 * that does not exist (whatever its shape), 410 for one that expired. Anything else is a problem+json 500.
 */
export function hostedHandler(
  render: (opened: HostedInvoice, token: string, event: ApiEvent) => Promise<DocumentResult>,
) {
  const base = async (event: ApiEvent): Promise<APIGatewayProxyStructuredResultV2> => {
    if (event.body) {
      return hostedErrorPage(
        400,
        'This page takes no request body',
        'Open the link in a browser, or GET it without a body.',
      ).response(200);
    }
    const token = event.pathParameters?.token ?? '';
    const now = new Date(event.requestContext?.timeEpoch ?? Date.now());
    try {
      const opened = await hostedInvoice(config().tableName, token, now);
      return (await render(opened, token, event)).response(200);
    } catch (error) {
      if (error instanceof DomainError && (error.kind === 'not-found' || error.kind === 'gone')) {
        const title =
          error instanceof LinkWithdrawn
            ? 'This link was withdrawn'
            : error.kind === 'gone'
              ? 'This link has expired'
              : 'This link does not work';
        return hostedErrorPage(error.kind === 'gone' ? 410 : 404, title, error.message).response(200);
      }
      throw error;
    }
  };
  return middy<ApiEvent, APIGatewayProxyStructuredResultV2>()
    .use(observability())
    .use(problemErrors())
    .handler(base);
}

/** A page telling a person why the link gives them nothing (`status`: 400, 404, 410), with the hosted headers. */
export const hostedErrorPage = (status: number, title: string, message: string): DocumentResult =>
  new DocumentResult(renderHostedErrorPage(title, message), hostedPageHeaders, status);
