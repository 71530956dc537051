import { describe, expect, it } from 'vitest';
import { ALL_HANDLERS, handlerAccess, ROUTES } from '../../shared/http/routes.ts';
import {
  environmentOf,
  ofType,
  only,
  referencedIds,
  refTarget,
  statementsOf,
  synthStage,
} from './support.ts';

const dev = synthStage('dev', { invoiceIssuer: ['Example GmbH', 'Hauptstraße 1, Berlin'] });
const [bucketId, bucket] = only(dev, 'AWS::S3::Bucket', 'Documents');
const documentHandlers = ALL_HANDLERS.filter((name) => handlerAccess(name).documents === 'read-write');

describe('documents bucket', () => {
  it('is private, encrypted, versioned, TLS only, and kept when the stack is deleted, in dev too', () => {
    expect(bucket.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
    });
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
    const [, policy] = only(dev, 'AWS::S3::BucketPolicy', 'Documents');
    const statements = (policy.Properties['PolicyDocument'] as { Statement: Record<string, unknown>[] })
      .Statement;
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
    // No put replaces a stored PDF: one without If-None-Match is denied, to every principal.
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 's3:PutObject',
        Condition: { Null: { 's3:if-none-match': 'true' } },
      }),
    );
  });

  it('is reached by the PDF handlers only, which may get and put under invoices/ and nothing else', () => {
    expect(documentHandlers.sort()).toEqual(['hosted-invoice-pdf', 'invoices-pdf']);
    for (const name of ALL_HANDLERS) {
      const s3 = statementsOf(dev, name).filter((s) => s.actions.some((action) => action.startsWith('s3:')));
      const env = environmentOf(dev, name);
      if (documentHandlers.includes(name)) {
        expect(s3, name).toHaveLength(2);
        // ListBucket on the bucket itself: without it S3 answers a key not stored yet with 403, not 404.
        const list = s3.find((s) => s.actions.includes('s3:ListBucket'))!;
        expect(list.actions).toEqual(['s3:ListBucket']);
        expect(JSON.stringify(list.resources)).toMatch(/:s3:::/);
        expect(JSON.stringify(list.resources)).not.toContain('/');
        s3.splice(s3.indexOf(list), 1);
        expect(s3[0]!.actions.sort()).toEqual(['s3:GetObject', 's3:PutObject']);
        expect(s3[0]!.effect).toBe('Allow');
        // arn:<partition>:s3:::<the bucket's name>/invoices/*
        expect(JSON.stringify(s3[0]!.resources)).toMatch(/:s3:::.*\/invoices\/\*/);
        expect(referencedIds(s3[0]!.resources)).toContain(bucketId);
        expect(refTarget(env['DOCUMENTS_BUCKET'])).toBe(bucketId);
      } else {
        expect(s3, name).toEqual([]);
        expect(env, name).not.toHaveProperty('DOCUMENTS_BUCKET');
      }
    }
  });

  it("hands the stage's invoiceIssuer to the handlers, one line each", () => {
    expect(environmentOf(dev, 'hosted-invoice-page')['INVOICE_ISSUER']).toBe(
      'Example GmbH\nHauptstraße 1, Berlin',
    );
    expect(environmentOf(dev, 'invoices-pdf')['INVOICE_ISSUER']).toBe('Example GmbH\nHauptstraße 1, Berlin');
  });

  it('the hosted routes are the only new routes without an authorizer; minting a link needs a token', () => {
    const routes = ofType(dev, 'AWS::ApiGatewayV2::Route').map(([, route]) => route.Properties);
    const routeFor = (key: string) => routes.find((route) => route['RouteKey'] === key);
    for (const key of ['GET /hosted/invoices/{token}', 'GET /hosted/invoices/{token}/pdf']) {
      expect(routeFor(key)?.['AuthorizationType'], key).toBe('NONE');
    }
    for (const key of ['GET /api/v1/invoices/{id}/pdf', 'POST /api/v1/invoices/{id}/hosted-links']) {
      expect(routeFor(key)?.['AuthorizationType'], key).toBe('JWT');
    }
    const publicRoutes = ROUTES.filter((route) => route.auth === 'none').map((r) => `${r.method} ${r.path}`);
    expect(publicRoutes.sort()).toEqual([
      'GET /hosted/invoices/{token}',
      'GET /hosted/invoices/{token}/pdf',
      'GET /openapi.json',
      'POST /webhooks/stripe',
    ]);
  });

  it('takes invoiceIssuer as a list, or from the command line as lines joined by "|"', () => {
    const fromCli = synthStage('dev', { invoiceIssuer: 'Example GmbH | Hauptstraße 1, Berlin' });
    expect(environmentOf(fromCli, 'invoices-pdf')['INVOICE_ISSUER']).toBe(
      'Example GmbH\nHauptstraße 1, Berlin',
    );
    expect(() => synthStage('dev', { invoiceIssuer: 'Example GmbH||VAT' })).toThrow(
      /invoiceIssuer must be a list/,
    );
    expect(() => synthStage('dev', { invoiceIssuer: ['a | b'] })).toThrow(/invoiceIssuer must be a list/);
    expect(() => synthStage('dev', { invoiceIssuer: [5] })).toThrow(/invoiceIssuer must be a list/);
    expect(() => synthStage('dev', { invoiceIssuer: ['a\rb'] })).toThrow(/invoiceIssuer must be a list/);
    // A JSON list on the command line, as jwtAudience takes it, is a list, not one line.
    const json = synthStage('dev', { invoiceIssuer: '["Example GmbH", "VAT ID DE1"]' });
    expect(environmentOf(json, 'invoices-pdf')['INVOICE_ISSUER']).toBe('Example GmbH\nVAT ID DE1');
  });

  it('is required for every stage but dev: a PDF is kept as issued, so it cannot get its seller later', () => {
    expect(() => synthStage('prod', { invoiceIssuer: [] })).toThrow(/invoiceIssuer is required/);
    expect(() => synthStage('dev', { invoiceIssuer: [] })).not.toThrow();
  });
});
