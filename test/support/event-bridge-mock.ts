import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll } from 'vitest';
import { resetConfigCache } from '../../shared/config.ts';
import { resetEventBridgeClient } from '../../shared/events/publisher.ts';

/** A mocked EventBridge for failure-path unit tests, on the bus `billing-test`, reset after each test. */
export function useMockedEventBridge() {
  const eventBridge = mockClient(EventBridgeClient);
  beforeAll(() => {
    Object.assign(process.env, {
      TABLE_NAME: 'unit',
      EVENT_BUS_NAME: 'billing-test',
      AWS_REGION: 'us-east-1',
    });
    resetConfigCache();
    resetEventBridgeClient();
  });
  afterEach(() => eventBridge.reset());
  return eventBridge;
}
