import { isIPv4, isIPv6 } from 'node:net';

/**
 * What kind of address an IP is, for the webhook SSRF rules: only `public` addresses may be called
 * unless the allow-list covers the address (or the URL's host). IPv6 forms that carry an IPv4
 * address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`,
 * 6to4 `2002::/16`) are classified by the IPv4 address they reach.
 */
export type AddressRange =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link_local'
  | 'unique_local'
  | 'multicast'
  | 'reserved';

/** An IP address as bytes: 4 for IPv4, 16 for IPv6. */
export type AddressBytes = Uint8Array;

/** `a.b.c.d` or any IPv6 text form (with `::`, with an embedded IPv4 tail, with a `%zone`) → bytes; undefined when it is not an IP. */
export function parseAddress(text: string): AddressBytes | undefined {
  const bracketed = text.startsWith('[') && text.endsWith(']');
  const address = bracketed ? text.slice(1, -1) : text;
  if (!bracketed && isIPv4(address)) return Uint8Array.from(address.split('.').map(Number));
  if (!isIPv6(address)) return undefined;
  let hex = address.replace(/%.*$/, '');
  const lastColon = hex.lastIndexOf(':');
  const tail = hex.slice(lastColon + 1);
  if (tail.includes('.')) {
    // an embedded IPv4 tail becomes its two hex groups: ::ffff:1.2.3.4 → ::ffff:102:304
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    hex = `${hex.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  let words: number[];
  if (hex.includes('::')) {
    const [left, right] = hex.split('::') as [string, string];
    const l = groups(left);
    const r = groups(right);
    words = [...l, ...Array<number>(8 - l.length - r.length).fill(0), ...r];
  } else {
    words = groups(hex);
  }
  if (words.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  words.forEach((word, i) => {
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return bytes;
}

/** A CIDR block: `10.0.0.0/8`, `fd00::/8`, or one address (`/32`, `/128`). */
export interface Cidr {
  bytes: AddressBytes;
  prefix: number;
}

/** `a.b.c.d/n`, `x::/n` or a bare address; undefined when malformed (bad address, prefix out of range). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const bytes = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  if (slash < 0) return { bytes, prefix: max };
  const prefixText = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= max ? { bytes, prefix } : undefined;
}

/** True when `address` lies in `cidr`; an IPv4 block also covers IPv4 reached through an IPv6 form (mapped, NAT64, …). */
export function cidrContains(cidr: Cidr, address: AddressBytes): boolean {
  const candidate = cidr.bytes.length === 4 && address.length === 16 ? embeddedIPv4(address) : address;
  if (!candidate || candidate.length !== cidr.bytes.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((candidate[i]! & mask) !== (cidr.bytes[i]! & mask)) return false;
  }
  return true;
}

const block = (text: string): Cidr => parseCidr(text)!;

/** IPv4 special-purpose blocks (IANA registry, RFC 6890 and successors), most specific first. */
const IPV4_RANGES: Array<[Cidr, AddressRange]> = [
  [block('0.0.0.0/32'), 'unspecified'],
  [block('0.0.0.0/8'), 'reserved'],
  [block('10.0.0.0/8'), 'private'],
  [block('100.64.0.0/10'), 'shared'],
  [block('127.0.0.0/8'), 'loopback'],
  [block('169.254.0.0/16'), 'link_local'],
  [block('172.16.0.0/12'), 'private'],
  [block('192.0.0.0/24'), 'reserved'],
  [block('192.0.2.0/24'), 'reserved'],
  [block('192.88.99.0/24'), 'reserved'],
  [block('192.168.0.0/16'), 'private'],
  [block('198.18.0.0/15'), 'reserved'],
  [block('198.51.100.0/24'), 'reserved'],
  [block('203.0.113.0/24'), 'reserved'],
  [block('224.0.0.0/4'), 'multicast'],
  [block('240.0.0.0/4'), 'reserved'],
];

/** IPv6 blocks that never reach a public host directly. */
const IPV6_RANGES: Array<[Cidr, AddressRange]> = [
  [block('::/128'), 'unspecified'],
  [block('::1/128'), 'loopback'],
  [block('100::/64'), 'reserved'],
  [block('2001::/32'), 'reserved'],
  [block('2001:db8::/32'), 'reserved'],
  [block('fc00::/7'), 'unique_local'],
  [block('fe80::/10'), 'link_local'],
  [block('fec0::/10'), 'unique_local'],
  [block('ff00::/8'), 'multicast'],
];

/** IPv6 prefixes whose addresses carry an IPv4 address, and where it sits. */
const IPV4_CARRIERS: Array<{ cidr: Cidr; offset: number }> = [
  { cidr: block('::ffff:0:0/96'), offset: 12 },
  { cidr: block('::/96'), offset: 12 },
  { cidr: block('64:ff9b::/96'), offset: 12 },
  { cidr: block('64:ff9b:1::/48'), offset: 12 },
  { cidr: block('2002::/16'), offset: 2 },
];

/** The IPv4 address an IPv6 address reaches (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIPv4(address: AddressBytes): AddressBytes | undefined {
  if (address.length !== 16) return undefined;
  for (const { cidr, offset } of IPV4_CARRIERS) {
    if (cidrContains(cidr, address)) return address.slice(offset, offset + 4);
  }
  return undefined;
}

/** The range of an address given as bytes or text; `reserved` for text that is not an IP at all. */
export function classifyAddress(address: AddressBytes | string): AddressRange {
  const bytes = typeof address === 'string' ? parseAddress(address) : address;
  if (!bytes) return 'reserved';
  if (bytes.length === 4) return IPV4_RANGES.find(([cidr]) => cidrContains(cidr, bytes))?.[1] ?? 'public';
  // `::` and `::1` sit inside the IPv4-compatible block: decide them before looking for an embedded IPv4
  const own = IPV6_RANGES.find(([cidr]) => cidr.prefix === 128 && cidrContains(cidr, bytes));
  if (own) return own[1];
  const v4 = embeddedIPv4(bytes);
  if (v4) return classifyAddress(v4);
  return IPV6_RANGES.find(([cidr]) => cidrContains(cidr, bytes))?.[1] ?? 'public';
}
