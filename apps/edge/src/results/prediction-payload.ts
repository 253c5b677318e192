import { encodePredictionColumns, type PredictionBatch, type PredictionBatchEncoding } from '@edgeloop/contracts';

/**
 * A checked batch as the bytes the outbox stores and the sender publishes: the `columns` encoding of
 * libs/contracts (MessagePack columns, the default) or JSON (`EDGE_PREDICTION_ENCODING=json`, for reading
 * payloads by eye). The cloud reads both (`decodePredictionBatch`), telling them apart by the first byte.
 */
export function encodePredictionPayload(batch: PredictionBatch, encoding: PredictionBatchEncoding): string | Uint8Array {
  return encoding === 'columns' ? encodePredictionColumns(batch) : JSON.stringify(batch);
}
