import { encodePredictionColumns } from '@edgeloop/contracts';
import { makeBatch, STABLE } from '../testing/prediction-batches';
import { RecentlyDecodedBatches } from './ingest-decoded-batches';

const MODEL = { name: 'face-id', version: 1 };

describe('RecentlyDecodedBatches', () => {
  const batch = (seq: number, deviceId = 'cam-1') => makeBatch(deviceId, seq, MODEL, STABLE, { frames: 3, end: 1_000_000 + seq });
  const bytes = (b: ReturnType<typeof batch>) => Buffer.from(encodePredictionColumns(b));

  it('hands the batch decoded from the same bytes to the job of its device and seq, once', () => {
    const decoded = new RecentlyDecodedBatches();
    const b = batch(1);
    decoded.remember(b, bytes(b));
    expect(decoded.take({ deviceId: 'cam-1', seq: 2 }, bytes(b))).toBeUndefined();
    expect(decoded.take({ deviceId: 'cam-2', seq: 1 }, bytes(b))).toBeUndefined();
    expect(decoded.take({ deviceId: 'cam-1', seq: 1 }, bytes(b))).toBe(b);
    expect(decoded.take({ deviceId: 'cam-1', seq: 1 }, bytes(b))).toBeUndefined();
    expect(decoded.size).toBe(0);
  });

  it('hands nothing out for other bytes under the same key, and keeps a copy of the bytes it was given', () => {
    const decoded = new RecentlyDecodedBatches();
    const b = batch(1);
    const payload = bytes(b);
    decoded.remember(b, payload);
    const other = bytes(batch(1, 'cam-1'));
    other[other.length - 1] ^= 1;
    expect(decoded.take({ deviceId: 'cam-1', seq: 1 }, other)).toBeUndefined();
    // the broker may reuse its buffer: what was remembered is what was decoded, not what the buffer holds later
    decoded.remember(b, payload);
    const original = Buffer.from(payload);
    payload.fill(0);
    expect(decoded.take({ deviceId: 'cam-1', seq: 1 }, original)).toBe(b);
  });

  it('matches JSON payloads (strings) by their UTF-8 bytes, and epochs as part of the key', () => {
    const decoded = new RecentlyDecodedBatches();
    const b = { ...batch(5), epoch: 'e1' };
    const json = JSON.stringify(b);
    decoded.remember(b, json);
    expect(decoded.take({ deviceId: 'cam-1', seq: 5 }, Buffer.from(json))).toBeUndefined();
    decoded.remember(b, json);
    expect(decoded.take({ deviceId: 'cam-1', epoch: 'e1', seq: 5 }, Buffer.from(json))).toBe(b);
  });

  it('keeps at most its capacity (the oldest go first) and hands nothing out past its age', () => {
    let now = 0;
    const decoded = new RecentlyDecodedBatches(2, 1000, () => now);
    const [b1, b2, b3] = [batch(1), batch(2), batch(3)];
    for (const b of [b1, b2, b3]) decoded.remember(b, bytes(b));
    expect(decoded.size).toBe(2);
    expect(decoded.take({ deviceId: 'cam-1', seq: 1 }, bytes(b1))).toBeUndefined();
    expect(decoded.take({ deviceId: 'cam-1', seq: 3 }, bytes(b3))).toBe(b3);
    now = 1001;
    expect(decoded.take({ deviceId: 'cam-1', seq: 2 }, bytes(b2))).toBeUndefined();
    expect(decoded.size).toBe(0);
  });

  it('drops the batches past their age when it is given a new one (jobs another replica took)', () => {
    let now = 0;
    const decoded = new RecentlyDecodedBatches(10, 1000, () => now);
    const [b1, b2, b3] = [batch(1), batch(2), batch(3)];
    decoded.remember(b1, bytes(b1));
    now = 600;
    decoded.remember(b2, bytes(b2));
    now = 1200;
    decoded.remember(b3, bytes(b3));
    expect(decoded.size).toBe(2);
    expect(decoded.take({ deviceId: 'cam-1', seq: 2 }, bytes(b2))).toBe(b2);
  });
});
