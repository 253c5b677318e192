import { CloudConfig } from '../config/cloud.config';
import { HostResolver, type ResolvedAddress } from './host-resolver';
import { WebhookTargetPolicy } from './webhook-target.policy';
import { WebhookUrlRefusedError } from './webhook.errors';

/** A resolver with a fixed table: no DNS traffic in a unit test. */
class TableResolver extends HostResolver {
  constructor(private readonly table: Record<string, string[]>) {
    super();
  }
  override async resolve(host: string): Promise<ResolvedAddress[]> {
    const bare = host.replace(/^\[|\]$/g, '');
    if (/^[0-9.]+$/.test(bare)) return [{ address: bare, family: 4 }];
    if (bare.includes(':')) return [{ address: bare, family: 6 }];
    const addresses = this.table[bare];
    if (!addresses) throw new Error(`getaddrinfo ENOTFOUND ${bare}`);
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  }
}

const table = {
  'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'rebind.example.com': ['127.0.0.1'],
  'mixed.example.com': ['93.184.216.34', '10.0.0.7'],
  'metadata.example.com': ['::ffff:169.254.169.254'],
  'hooks.internal': ['10.20.30.40'],
  'empty.example.com': [],
};

const policy = (allow?: string) => new WebhookTargetPolicy(CloudConfig.fromEnv(allow ? { EDGELOOP_WEBHOOK_ALLOW: allow } : {}), new TableResolver(table));

async function refusal(promise: Promise<unknown>): Promise<WebhookUrlRefusedError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WebhookUrlRefusedError);
  return err as WebhookUrlRefusedError;
}

describe('WebhookTargetPolicy', () => {
  it('accepts a host whose every address is public, and pins the first', async () => {
    const target = await policy().check('https://hooks.example.com/edgeloop?x=1');
    expect(target.url.href).toBe('https://hooks.example.com/edgeloop?x=1');
    expect(target.pinned).toEqual({ address: '93.184.216.34', family: 4 });
  });

  it('refuses a name that resolves to loopback (DNS pointing inside)', async () => {
    const err = await refusal(policy().check('http://rebind.example.com/'));
    expect(err.status).toBe(422);
    expect(err.code).toBe('webhook_url_refused');
    expect(err.details).toEqual([{ address: '127.0.0.1', range: 'loopback' }]);
  });

  it('refuses a name with one private address among public ones', async () => {
    const err = await refusal(policy().check('http://mixed.example.com/'));
    expect(err.details).toEqual([{ address: '10.0.0.7', range: 'private' }]);
  });

  it('refuses the metadata address in its IPv4-mapped IPv6 form', async () => {
    const err = await refusal(policy().check('http://metadata.example.com/'));
    expect(err.details).toEqual([{ address: '::ffff:169.254.169.254', range: 'link_local' }]);
  });

  it('refuses literal addresses in every spelling the URL parser accepts', async () => {
    for (const url of ['http://2130706433/', 'http://0x7f.1/', 'http://127.1/', 'http://[0:0:0:0:0:ffff:7f00:1]/', 'http://[::]/']) {
      await refusal(policy().check(url));
    }
  });

  it('allows a private address inside an allow-listed block, and a private host allow-listed by name', async () => {
    await expect(policy('127.0.0.0/8').check('http://rebind.example.com:8080/')).resolves.toMatchObject({ pinned: { address: '127.0.0.1' } });
    await expect(policy('hooks.internal').check('http://hooks.internal/hook')).resolves.toMatchObject({ pinned: { address: '10.20.30.40' } });
    await refusal(policy('hooks.internal').check('http://rebind.example.com/'));
    await refusal(policy('127.0.0.0/8').check('http://mixed.example.com/'));
  });

  it('refuses other schemes, credentials, and hosts that do not resolve', async () => {
    expect((await refusal(policy().check('ftp://hooks.example.com/'))).message).toMatch(/http or https/);
    expect((await refusal(policy().check('https://user:secret@hooks.example.com/'))).message).toMatch(/credentials/);
    expect((await refusal(policy().check('https://nowhere.example.com/'))).message).toMatch(/does not resolve/);
    expect((await refusal(policy().check('https://empty.example.com/'))).message).toMatch(/no address/);
    expect((await refusal(policy().check('not a url'))).message).toMatch(/absolute URL/);
  });
});
