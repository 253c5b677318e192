import { type AddressBytes, type Cidr, cidrContains, classifyAddress, parseCidr } from './address-classifier';

/**
 * EDGELOOP_WEBHOOK_ALLOW: comma-separated CIDR blocks (`127.0.0.0/8`, `fd00::/8`), single addresses
 * (`10.1.2.3`, `::1`) and host names (`hooks.internal`). A webhook may target a non-public address
 * when the address lies in an allowed block, or when the URL's host is an allowed name.
 */
export interface WebhookAllowList {
  readonly cidrs: readonly Cidr[];
  readonly hosts: ReadonlySet<string>;
}

export const EMPTY_ALLOW_LIST: WebhookAllowList = { cidrs: [], hosts: new Set() };

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Parses the variable; `problems` names every entry that is neither a CIDR, an address nor a host name. */
export function parseAllowList(text: string | undefined): { allowList: WebhookAllowList; problems: string[] } {
  const cidrs: Cidr[] = [];
  const hosts = new Set<string>();
  const problems: string[] = [];
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const cidr = parseCidr(entry);
    if (cidr) cidrs.push(cidr);
    else if (!entry.includes('/') && !entry.includes(':') && !/^[0-9.]+$/.test(entry) && HOST_NAME.test(normalizeHost(entry))) hosts.add(normalizeHost(entry));
    else problems.push(`"${entry.slice(0, 80)}" is not a CIDR block (10.0.0.0/8, fd00::/8), an IP address or a host name`);
  }
  return { allowList: { cidrs, hosts }, problems };
}

/** Lowercase, without IPv6 brackets or a trailing dot: the form the allow-list compares. */
export function normalizeHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

/** True when the address is public, or allowed by a block of the list. */
export function addressAllowed(address: AddressBytes, allowList: WebhookAllowList): boolean {
  return classifyAddress(address) === 'public' || allowList.cidrs.some((cidr) => cidrContains(cidr, address));
}
