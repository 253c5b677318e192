import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  eventId: string;
  type: string;
  deliveryId: string;
  at: number;
  data: Record<string, unknown>;
}

/** A local HTTP endpoint for webhooks that answers 200 and counts what arrives by event id. */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { id: string; type: string; data: Record<string, unknown> };
          this.received.push({
            eventId: parsed.id,
            type: parsed.type,
            deliveryId: String(req.headers['x-edgeloop-delivery']),
            at: Date.now(),
            data: parsed.data ?? {},
          });
        } catch {
          this.received.push({ eventId: 'unparsable', type: 'unparsable', deliveryId: String(req.headers['x-edgeloop-delivery']), at: Date.now(), data: {} });
        }
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  /** Receptions per event id, for the events of `type` (all types when omitted). */
  countsByEvent(type?: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.received) if (!type || r.type === type) counts.set(r.eventId, (counts.get(r.eventId) ?? 0) + 1);
    return counts;
  }

  /** Event ids received more than once. */
  duplicates(): string[] {
    return [...this.countsByEvent()].filter(([, n]) => n > 1).map(([id]) => id);
  }

  async stop(): Promise<void> {
    if (this.server) await new Promise((resolve) => this.server!.close(resolve));
  }
}
