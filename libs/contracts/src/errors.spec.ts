import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, ERROR_STATUS, ErrorBodySchema, errorCodeForStatus, errorStatus, isErrorCode } from './errors';

const repoRoot = join(__dirname, '..', '..', '..');

/** The docs table of the catalogue: one row per status, its codes in catalogue order. */
function catalogueTable(): string {
  const byStatus = new Map<number, string[]>();
  for (const code of ERROR_CODES) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  const rows = [...byStatus.entries()].sort(([a], [b]) => a - b).map(([status, codes]) => `| ${status} | ${codes.map((c) => `\`${c}\``).join(', ')} |`);
  return ['| status | codes |', '| --- | --- |', ...rows].join('\n');
}

function documentedTable(doc: string): string | undefined {
  return /<!-- error-catalogue:start -->\n([\s\S]*?)\n<!-- error-catalogue:end -->/.exec(doc)?.[1];
}

describe('the REST error catalogue', () => {
  it('gives every code an error status and a snake_case name the body schema accepts', () => {
    for (const code of ERROR_CODES) {
      expect({ code, status: errorStatus(code) >= 400 && errorStatus(code) < 600 }).toEqual({ code, status: true });
      expect(ErrorBodySchema.safeParse({ error: code, message: 'm', details: [] }).success).toBe(true);
    }
  });

  it('knows its own codes and nothing else, inherited names included', () => {
    expect(isErrorCode('invalid_body')).toBe(true);
    expect(isErrorCode('invalid_bodies')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });

  it('maps a bare status to a catalogue code whose status is that status when the catalogue has one', () => {
    expect(errorCodeForStatus(404)).toBe('not_found');
    expect(errorCodeForStatus(413)).toBe('payload_too_large');
    for (const status of new Set(Object.values(ERROR_STATUS)))
      expect({ status, mapped: errorStatus(errorCodeForStatus(status)) }).toEqual({ status, mapped: status });
    expect(errorCodeForStatus(418)).toBe('bad_request');
    expect(errorCodeForStatus(502)).toBe('internal');
  });

  it('docs/protocol.md lists exactly the catalogue', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'protocol.md'), 'utf8');
    const expected = catalogueTable();
    if (documentedTable(doc) !== expected) {
      throw new Error(`docs/protocol.md: replace the table between <!-- error-catalogue:start --> and <!-- error-catalogue:end --> with\n${expected}`);
    }
  });

  it('docs/webhooks.md names only catalogue codes, each with its catalogue status', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'webhooks.md'), 'utf8');
    const rows = [...doc.matchAll(/^\| (\d{3}(?: \/ \d{3})*) \| (.+?) \|/gm)];
    expect(rows.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const [, statuses, codesCell] of rows) {
      const codes = [...codesCell.matchAll(/`([a-z][a-z0-9_]*)`/g)].map((m) => m[1]);
      const allowed = statuses.split(' / ').map(Number);
      for (const code of codes) {
        if (!isErrorCode(code)) problems.push(`docs/webhooks.md names '${code}', which is not in ERROR_STATUS (libs/contracts/src/errors.ts)`);
        else if (!allowed.includes(ERROR_STATUS[code]))
          problems.push(`docs/webhooks.md gives '${code}' status ${statuses}; the catalogue says ${ERROR_STATUS[code]}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
