import { Injectable } from '@nestjs/common';
import { CloudConfig } from '../config/cloud.config';
import { classifyAddress, parseAddress } from './address-classifier';
import { HostResolver, type ResolvedAddress } from './host-resolver';
import { addressAllowed, normalizeHost } from './webhook-allow-list';
import { WebhookUrlRefusedError } from './webhook.errors';

/** A webhook URL that passed the SSRF rules, with the address the request must connect to. */
export interface WebhookTarget {
  url: URL;
  /** The checked address: the sender connects here and nowhere else (no second DNS lookup to rebind). */
  pinned: ResolvedAddress;
}

/**
 * The SSRF rules for webhook URLs, applied when a subscription is created and again before every
 * attempt: http or https only, no credentials in the URL, and every address the host resolves to
 * must be public unless EDGELOOP_WEBHOOK_ALLOW covers it (a CIDR block) or the host (a name).
 */
@Injectable()
export class WebhookTargetPolicy {
  constructor(
    private readonly config: CloudConfig,
    private readonly resolver: HostResolver,
  ) {}

  /** Resolves and checks `urlText`; throws WebhookUrlRefusedError (422) with the reason. */
  async check(urlText: string): Promise<WebhookTarget> {
    let url: URL;
    try {
      url = new URL(urlText);
    } catch {
      throw new WebhookUrlRefusedError('the webhook URL is not an absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new WebhookUrlRefusedError(`the webhook URL must be http or https, not ${url.protocol.slice(0, -1)}`);
    }
    if (url.username !== '' || url.password !== '') {
      throw new WebhookUrlRefusedError('the webhook URL may not carry credentials; receivers authenticate deliveries by their signature');
    }
    const host = normalizeHost(url.hostname);
    const { allowList } = this.config.webhooks;
    let addresses: ResolvedAddress[];
    try {
      addresses = await this.resolver.resolve(url.hostname, this.config.webhooks.timeoutMs);
    } catch (err) {
      throw new WebhookUrlRefusedError(`the webhook host ${host} does not resolve: ${(err as Error).message}`);
    }
    if (addresses.length === 0) throw new WebhookUrlRefusedError(`the webhook host ${host} resolves to no address`);
    if (allowList.hosts.has(host)) return { url, pinned: addresses[0]! };
    const refused = addresses
      .map((resolved) => ({ resolved, bytes: parseAddress(resolved.address) }))
      .filter(({ bytes }) => !bytes || !addressAllowed(bytes, allowList))
      .map(({ resolved }) => ({ address: resolved.address, range: classifyAddress(resolved.address) }));
    if (refused.length > 0) {
      const list = refused.map((r) => `${r.address} (${r.range.replace('_', '-')})`).join(', ');
      throw new WebhookUrlRefusedError(
        `the webhook host ${host} resolves to an address that is not public: ${list}; allow it with EDGELOOP_WEBHOOK_ALLOW`,
        refused,
      );
    }
    return { url, pinned: addresses[0]! };
  }
}
