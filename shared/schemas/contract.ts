import type { z } from 'zod';
import { IdPathSchema } from './common.ts';

/**
 * What one handler accepts and returns. Handlers validate with these schemas and the OpenAPI
 * document (shared/schemas/openapi.ts) is generated from them, so the two cannot disagree.
 */
export type HandlerContract = {
  body?: z.ZodType;
  /** The body as documented, when validation is split (a batch validates record by record). */
  documentedBody?: z.ZodType;
  query?: z.ZodObject;
  params?: z.ZodObject;
  /** Whether the route honours the Idempotency-Key header. */
  idempotent?: boolean;
  /** Whether the route takes If-Match with the entity version (optimistic concurrency). */
  ifMatch?: boolean;
  /** Media type of the body when it is not JSON validated by `body` (e.g. Stripe's raw payload). */
  rawBody?: { mediaType: string; description: string };
  /** `mediaType`: a body that is not JSON (a PDF, a page), documented as that type. */
  success: { status: number; description: string; schema?: z.ZodType; mediaType?: string };
  /** Problem statuses this route can answer with, besides 500. */
  problems: readonly number[];
  /** The media type of those answers when they are not problem+json (a page for a browser). */
  problemMediaType?: string;
};

export const defineContract = <C extends HandlerContract>(contract: C): C => contract;

/** POST creating a resource: idempotent, 201 with the resource. */
export const createContract = <B extends z.ZodType>(body: B, schema: z.ZodType, noun: string) =>
  defineContract({
    body,
    idempotent: true,
    success: { status: 201, description: `The ${noun} was created`, schema },
    problems: [400, 401, 403, 409, 413, 415],
  });

/** GET of one resource by its id. */
export const getContract = (schema: z.ZodType, description: string) =>
  defineContract({
    params: IdPathSchema,
    success: { status: 200, description, schema },
    problems: [400, 401, 403, 404],
  });

/** GET of a page of resources. */
export const listContract = <Q extends z.ZodObject>(schema: z.ZodType, query: Q, description: string) =>
  defineContract({
    query,
    success: { status: 200, description, schema },
    problems: [400, 401, 403],
  });
