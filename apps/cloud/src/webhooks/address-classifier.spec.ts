import { cidrContains, classifyAddress, embeddedIPv4, parseAddress, parseCidr } from './address-classifier';
import { addressAllowed, parseAllowList } from './webhook-allow-list';

const bytes = (text: string) => {
  const parsed = parseAddress(text);
  if (!parsed) throw new Error(`${text} did not parse`);
  return parsed;
};

describe('parseAddress', () => {
  it.each([
    ['1.2.3.4', [1, 2, 3, 4]],
    ['[::1]', [...Array(15).fill(0), 1]],
    ['::', Array(16).fill(0)],
    ['fe80::1%eth0', [0xfe, 0x80, ...Array(13).fill(0), 1]],
    ['::ffff:10.0.0.1', [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1]],
    ['::ffff:a00:1', [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1]],
    ['2001:db8:0:0:1:0:0:1', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]],
    ['1:2:3:4:5:6:7::', [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]],
  ])('%s', (text, expected) => {
    expect([...bytes(text)]).toEqual(expected);
  });

  it.each(['', 'localhost', '1.2.3', '1.2.3.256', '01.2.3.4', '::g', '1::2::3', '[1.2.3.4]'])('refuses %p', (text) => {
    expect(parseAddress(text)).toBeUndefined();
  });
});

describe('classifyAddress', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'shared'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link_local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'reserved'],
    ['224.0.0.251', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link_local'],
    ['febf:ffff::1', 'link_local'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
  ])('%s is %s', (address, range) => {
    expect(classifyAddress(address)).toBe(range);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.0', '100.63.255.255', '100.128.0.0', '11.0.0.1', '2606:4700::1111', '2a00:1450:4001::200e'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBe('public');
    },
  );

  it('classifies IPv6 forms that carry an IPv4 address by that address', () => {
    expect(classifyAddress('::ffff:127.0.0.1')).toBe('loopback');
    expect(classifyAddress('::ffff:7f00:1')).toBe('loopback');
    expect(classifyAddress('::ffff:169.254.169.254')).toBe('link_local');
    expect(classifyAddress('::ffff:10.1.2.3')).toBe('private');
    expect(classifyAddress('::ffff:8.8.8.8')).toBe('public');
    expect(classifyAddress('::127.0.0.1')).toBe('loopback');
    expect(classifyAddress('64:ff9b::192.168.0.1')).toBe('private');
    expect(classifyAddress('64:ff9b::8.8.8.8')).toBe('public');
    expect(classifyAddress('2002:c0a8:0101::1')).toBe('private');
    expect([...embeddedIPv4(bytes('::ffff:1.2.3.4'))!]).toEqual([1, 2, 3, 4]);
    expect(embeddedIPv4(bytes('2606:4700::1111'))).toBeUndefined();
  });

  it('treats text that is not an address as reserved', () => {
    expect(classifyAddress('example.com')).toBe('reserved');
  });
});

describe('CIDR blocks', () => {
  it('parses blocks and bare addresses, and refuses bad prefixes', () => {
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ prefix: 8 });
    expect(parseCidr('10.1.2.3')).toMatchObject({ prefix: 32 });
    expect(parseCidr('fd00::/8')).toMatchObject({ prefix: 8 });
    expect(parseCidr('::1')).toMatchObject({ prefix: 128 });
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('fd00::/129')).toBeUndefined();
    expect(parseCidr('10.0.0.0/')).toBeUndefined();
    expect(parseCidr('10.0.0.0/-1')).toBeUndefined();
    expect(parseCidr('hooks.internal/8')).toBeUndefined();
  });

  it('matches on prefix bits that do not end on a byte', () => {
    const block = parseCidr('172.16.0.0/12')!;
    expect(cidrContains(block, bytes('172.16.0.1'))).toBe(true);
    expect(cidrContains(block, bytes('172.31.255.255'))).toBe(true);
    expect(cidrContains(block, bytes('172.32.0.0'))).toBe(false);
    expect(cidrContains(parseCidr('0.0.0.0/0')!, bytes('8.8.8.8'))).toBe(true);
  });

  it('lets an IPv4 block cover the IPv4-mapped form, but never mixes families otherwise', () => {
    expect(cidrContains(parseCidr('127.0.0.0/8')!, bytes('::ffff:127.0.0.1'))).toBe(true);
    expect(cidrContains(parseCidr('127.0.0.0/8')!, bytes('::1'))).toBe(false);
    expect(cidrContains(parseCidr('::1/128')!, bytes('127.0.0.1'))).toBe(false);
  });
});

describe('the allow-list', () => {
  it('reads CIDR blocks, addresses and host names, and names every bad entry', () => {
    const { allowList, problems } = parseAllowList(' 127.0.0.0/8, ::1 ,Hooks.Internal., 10.9.8.7,,');
    expect(problems).toEqual([]);
    expect(allowList.cidrs.map((c) => c.prefix)).toEqual([8, 128, 32]);
    expect([...allowList.hosts]).toEqual(['hooks.internal']);
    expect(parseAllowList('10.0.0.0/40, 300.1.1.1, -bad-, ok.example, fd00::/200').problems).toHaveLength(4);
    expect(parseAllowList(undefined)).toEqual({ allowList: { cidrs: [], hosts: new Set() }, problems: [] });
  });

  it('allows public addresses always, and others only inside an allowed block', () => {
    const { allowList } = parseAllowList('127.0.0.0/8,fd00:1::/32');
    expect(addressAllowed(bytes('8.8.8.8'), allowList)).toBe(true);
    expect(addressAllowed(bytes('127.0.0.1'), allowList)).toBe(true);
    expect(addressAllowed(bytes('::ffff:127.0.0.1'), allowList)).toBe(true);
    expect(addressAllowed(bytes('::1'), allowList)).toBe(false);
    expect(addressAllowed(bytes('10.0.0.1'), allowList)).toBe(false);
    expect(addressAllowed(bytes('fd00:1::5'), allowList)).toBe(true);
    expect(addressAllowed(bytes('fd00:2::5'), allowList)).toBe(false);
    expect(addressAllowed(bytes('169.254.169.254'), parseAllowList('').allowList)).toBe(false);
  });
});
