import { Injectable } from '@nestjs/common';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** DNS for webhook hosts: every address a name resolves to (A and AAAA, as the system resolver returns them). */
@Injectable()
export class HostResolver {
  /** `host` is a URL hostname (IPv6 literals in brackets are accepted); an IP literal resolves to itself. */
  async resolve(host: string, timeoutMs: number): Promise<ResolvedAddress[]> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    const literal = isIP(bare);
    if (literal === 4 || literal === 6) return [{ address: bare, family: literal }];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no DNS answer for ${bare} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const answers = await Promise.race([lookup(bare, { all: true, order: 'verbatim' }), timeout]);
      return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
    } finally {
      clearTimeout(timer);
    }
  }
}
