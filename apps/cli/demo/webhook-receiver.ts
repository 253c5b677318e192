import { verifyWebhook, WEBHOOK_HEADERS } from '@edgeloop/contracts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookReceiver {
  url: string;
  received: number;
  close(): Promise<void>;
}

/** A small receiver that verifies each delivery's signature and reports it, as a subscriber's would. */
export async function startWebhookReceiver(secret: string, report: (line: string) => void): Promise<WebhookReceiver> {
  let received = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => String(req.headers[name.toLowerCase()] ?? '');
      const check = verifyWebhook({ secret, timestamp: header(WEBHOOK_HEADERS.timestamp), signature: header(WEBHOOK_HEADERS.signature), body });
      received++;
      let summary = '';
      try {
        const event = JSON.parse(body) as { type: string; data: Record<string, unknown> };
        const data = event.data as {
          model?: { name: string; version: number };
          evidence?: Array<{ metric: string; value: number }>;
          devices?: string[];
          modelName?: string;
          candidate?: { name: string; version: number } | null;
          report?: { verdict: string };
          step?: string;
        };
        summary = `${event.type}${data.model ? ` ${data.model.name}@${data.model.version}` : ''}`;
        if (data.evidence) summary += ` on ${data.devices?.join(', ')}: ${data.evidence.map((e) => `${e.metric} ${e.value.toFixed(2)}`).join(', ')}`;
        if (event.type === 'retraining.completed') {
          summary += ` ${data.modelName}: candidate ${data.candidate ? `${data.candidate.name}@${data.candidate.version}` : 'none'}${data.report ? `, gate ${data.report.verdict}` : ''}`;
        }
        if (event.type === 'retraining.failed') summary += ` ${data.modelName} at ${data.step}`;
      } catch {
        summary = 'an unreadable body';
      }
      report(`${summary} — signature ${check.ok ? 'verified' : `INVALID (${check.reason})`}`);
      res.writeHead(check.ok ? 204 : 401).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/edgeloop`,
    get received() {
      return received;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
