import type { _Record as StreamRecord } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';

/**
 * Stream records read with the DynamoDB Streams API (the local poller, the redrive tool) turned into
 * the shape Lambda's event source mapping delivers, so the fan-out handler sees the same input.
 */
/** The SDK's stream record, reshaped as Lambda delivers it (epoch seconds, source ARN, raw JSON values). */
export function toLambdaRecord(record: StreamRecord, streamArn: string): DynamoDBRecord {
  const created = record.dynamodb?.ApproximateCreationDateTime;
  const { Keys, NewImage, OldImage } = record.dynamodb ?? {};
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion,
    eventSource: 'aws:dynamodb',
    awsRegion: record.awsRegion,
    eventSourceARN: streamArn,
    dynamodb: {
      ...(record.dynamodb as DynamoDBRecord['dynamodb']),
      ApproximateCreationDateTime: created ? Math.floor(new Date(created).getTime() / 1000) : undefined,
      ...(Keys ? { Keys: toLambdaImage(Keys) } : {}),
      ...(NewImage ? { NewImage: toLambdaImage(NewImage) } : {}),
      ...(OldImage ? { OldImage: toLambdaImage(OldImage) } : {}),
    },
  } as DynamoDBRecord;
}

type SdkImage = Record<string, unknown>;

/**
 * Lambda passes the stream's JSON through; the SDK client deserializes it and, in doing so, turns an
 * empty map `{"M":{}}` into `{}` and binaries into Uint8Array. Undo both so handlers see Lambda's shape.
 */
function toLambdaImage(image: SdkImage): Record<string, never> {
  return Object.fromEntries(
    Object.entries(image).map(([name, value]) => [name, toLambdaValue(value)]),
  ) as Record<string, never>;
}

function toLambdaValue(value: unknown): unknown {
  const attribute = value as Record<string, unknown>;
  const [type] = Object.keys(attribute);
  if (type === undefined) return { M: {} };
  const inner = attribute[type];
  switch (type) {
    case 'M':
      return { M: toLambdaImage(inner as SdkImage) };
    case 'L':
      return { L: (inner as unknown[]).map(toLambdaValue) };
    case 'B':
      return { B: Buffer.from(inner as Uint8Array).toString('base64') };
    case 'BS':
      return { BS: (inner as Uint8Array[]).map((b) => Buffer.from(b).toString('base64')) };
    default:
      return attribute;
  }
}
