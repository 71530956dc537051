import {
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { config } from '../config.ts';

/**
 * Rendered documents (invoice PDFs), kept in the stage's S3 bucket (DOCUMENTS_BUCKET): in AWS the
 * bucket of the stack, locally the object store `npm start` runs over the data folder
 * (local/object-store.ts), reached through this same S3 client. A document is written once, under a
 * key that names what it is, and never changed.
 *
 * Key layout                              | Holds
 * --------------------------------------- | -------------------------------------------------
 * invoices/<invoice id>/<number>.pdf       | the invoice as issued (shared/documents/invoice-pdf.ts)
 */
export const invoicePdfKey = (invoiceId: string, number: string): string =>
  `invoices/${invoiceId}/${number}.pdf`;

let client: S3Client | undefined;

function s3(): S3Client {
  if (!client) {
    const { region, s3Endpoint } = config();
    client = new S3Client({
      region,
      // The local object store answers path-style requests (http://host/<bucket>/<key>).
      ...(s3Endpoint ? { endpoint: s3Endpoint, forcePathStyle: true } : {}),
    });
  }
  return client;
}

/** For the local runtime and tests, which point the process at another store. */
export function resetDocumentsClient(): void {
  client = undefined;
}

function bucket(): string {
  const { documentsBucket } = config();
  if (!documentsBucket) throw new Error('DOCUMENTS_BUCKET is not set: this handler has no document store');
  return documentsBucket;
}

/** The stored document, or undefined when there is none under `key`. */
export async function readDocument(key: string): Promise<Uint8Array | undefined> {
  try {
    const { Body } = await s3().send(new GetObjectCommand({ Bucket: bucket(), Key: key }));
    return Body ? await Body.transformToByteArray() : undefined;
  } catch (error) {
    if (error instanceof NoSuchKey) return undefined;
    throw error;
  }
}

/**
 * Stores `bytes` under `key` unless something is there already (If-None-Match: *). Documents are
 * rendered deterministically, so when two requests race the one that loses stored the same bytes.
 */
export async function storeDocumentOnce(key: string, bytes: Uint8Array, contentType: string): Promise<void> {
  try {
    await s3().send(
      new PutObjectCommand({
        Bucket: bucket(),
        Key: key,
        Body: bytes,
        ContentType: contentType,
        IfNoneMatch: '*',
      }),
    );
  } catch (error) {
    // 412: stored already. 409: a concurrent conditional write of the same key is in flight.
    const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
    if (status === 412 || status === 409) return;
    throw error;
  }
}
