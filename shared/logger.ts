import { Logger } from '@aws-lambda-powertools/logger';

/** Structured JSON logs (Powertools); the service name groups them across functions. */
export const logger = new Logger({ serviceName: 'billing' });
