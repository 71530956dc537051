import { Logger } from '@aws-lambda-powertools/logger';

/** The Powertools service name of every function: the `service` key of logs, metrics and traces. */
export const SERVICE_NAME = 'billing';

/**
 * Structured JSON logs (Powertools); the service name groups them across functions. Each invocation
 * adds its Lambda context (function, request id, cold start) through shared/observability.ts.
 */
export const logger = new Logger({ serviceName: SERVICE_NAME });
