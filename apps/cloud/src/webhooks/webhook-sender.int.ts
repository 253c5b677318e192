import { freePort } from '@edgeloop/harness';
import { WebhookReceiver } from './testing/webhook-receiver';
import { RESPONSE_EXCERPT_BYTES, WebhookSender } from './webhook-sender';

const loopback = { address: '127.0.0.1', family: 4 as const };

describe('WebhookSender against a receiver on 127.0.0.1', () => {
  let receiver: WebhookReceiver;
  const sender = new WebhookSender();
  const post = (url: string, timeoutMs = 2000) =>
    sender.post({ url: new URL(url), pinned: loopback, headers: { 'Content-Type': 'application/json', 'X-Edgeloop-Event': 'test' }, body: '{"a":1}', timeoutMs });

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    receiver
      .on('/redirect', () => ({ status: 302, headers: { location: '/target' } }))
      .on('/long', () => ({ status: 200, body: `x${'é'.repeat(3000)}` }))
      .on('/hang', () => 'hang');
  });
  afterAll(() => receiver.stop());

  it('connects to the pinned address, not to what the name resolves to, and keeps the name in Host', async () => {
    // `.invalid` never resolves (RFC 6761): a request that arrives went to the pinned address
    const answer = await post(`http://hooks.edgeloop.invalid:${receiver.port}/pinned?x=1`);
    expect(answer).toMatchObject({ statusCode: 204, error: null, responseExcerpt: null });
    const [request] = receiver.at('/pinned');
    expect(request!.headers.host).toBe(`hooks.edgeloop.invalid:${receiver.port}`);
    expect(request!.headers['content-length']).toBe('7');
    expect(request!.headers['user-agent']).toMatch(/^edgeloop-webhooks\//);
    expect(request!.body).toBe('{"a":1}');
  });

  it('does not follow redirects', async () => {
    const answer = await post(receiver.url('/redirect'));
    expect(answer.statusCode).toBe(302);
    expect(receiver.at('/target')).toHaveLength(0);
  });

  it('keeps only the first kilobyte of a long answer', async () => {
    const answer = await post(receiver.url('/long'));
    expect(answer.statusCode).toBe(200);
    // 1 + 511 × 2 bytes, then half of an é that is left out rather than shown as a replacement character
    expect(answer.responseExcerpt).toBe(`x${'é'.repeat((RESPONSE_EXCERPT_BYTES - 2) / 2)}`);
  });

  it('gives up on a receiver that does not answer in time', async () => {
    const answer = await post(receiver.url('/hang'), 300);
    expect(answer).toMatchObject({ statusCode: null, error: 'no answer within 300 ms', responseExcerpt: null });
    expect(answer.latencyMs).toBeGreaterThanOrEqual(295);
    expect(answer.latencyMs).toBeLessThan(2000);
  });

  it('reports a refused connection as an answer, never a throw', async () => {
    const answer = await post(`http://127.0.0.1:${await freePort()}/`);
    expect(answer.statusCode).toBeNull();
    expect(answer.error).toMatch(/ECONNREFUSED/);
  });
});
