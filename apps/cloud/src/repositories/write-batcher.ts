/**
 * Gathers single-row writes (or reads) made at the same time into one statement ("group commit"): the first write goes
 * out at once (after the calls of the current turn of the event loop joined it); writes that arrive while a
 * statement is running wait and go together in the next one. A batch holds at most one write per key, so
 * two writes of one row keep their order (the second goes in a later statement). A failed statement fails
 * every write in it, and each caller sees the error as if it had written alone.
 */
export class WriteBatcher<T, R> {
  private readonly queue: Array<{ key: string; item: T; resolve(value: R): void; reject(err: unknown): void }> = [];
  private flushing = false;

  constructor(
    /** Writes the batch in one statement; returns one result per item, in order. */
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly keyOf: (item: T) => string,
    private readonly maxBatch = 500,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ key: this.keyOf(item), item, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const keys = new Set<string>();
      const batch: typeof this.queue = [];
      for (let i = 0; i < this.queue.length && batch.length < this.maxBatch;) {
        const entry = this.queue[i];
        if (keys.has(entry.key)) {
          i++;
          continue;
        }
        keys.add(entry.key);
        batch.push(entry);
        this.queue.splice(i, 1);
      }
      try {
        const results = await this.write(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(results[i]));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.flushing = false;
  }
}
