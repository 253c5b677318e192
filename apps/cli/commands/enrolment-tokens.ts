import { EnrolmentApi } from '@edgeloop/client';
import { CreateEnrolmentTokenRequestSchema, type EnrolmentTokenSummary } from '@edgeloop/contracts';
import { Command } from 'commander';
import { printJson, say } from '../output';
import { cliClient } from '../api';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** `90s`, `30m`, `24h`, `7d` (or plain seconds) → seconds. */
export function parseLifetime(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a lifetime like 30m, 24h or 7d`);
  return Number(match[1]) * UNIT_SECONDS[match[2] || 's'];
}

function labelsOf(pairs: string[] = []): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`"${pair}" is not KEY=VALUE`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

function line(t: EnrolmentTokenSummary): string {
  const labels = Object.entries(t.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${t.id}\t${t.state}\t${t.group}\t${t.uses}/${t.maxUses}\texpires ${t.expiresAt}\t${labels || '-'}${t.description ? `\t${t.description}` : ''}`;
}

/** `edgeloop enrolment-tokens create|ls|revoke`: tokens that let new devices enrol themselves (docs/enrolment.md). */
export function registerEnrolmentTokens(program: Command): void {
  const tokens = program.command('enrolment-tokens').description('zero-touch enrolment tokens for new devices');
  const api = () => new EnrolmentApi(cliClient());

  tokens
    .command('create')
    .description('create a token for a group; prints it once (JSON). Start a device with EDGE_CLOUD_URL and EDGE_ENROLMENT_TOKEN')
    .requiredOption('--group <group>', 'the group every device enrolled with it joins')
    .option('--label <key=value...>', 'labels stamped on every device enrolled with it')
    .option('--uses <n>', 'how many devices may enrol with it', '1')
    .option('--expires <lifetime>', 'lifetime: 30m, 24h, 7d …', '24h')
    .option('--description <text>')
    .action(async (options: { group: string; label?: string[]; uses: string; expires: string; description?: string }) => {
      const body = CreateEnrolmentTokenRequestSchema.parse({
        group: options.group,
        labels: labelsOf(options.label),
        maxUses: Number(options.uses),
        expiresInSeconds: parseLifetime(options.expires),
        ...(options.description ? { description: options.description } : {}),
      });
      printJson(await api().createToken(body));
    });

  tokens
    .command('ls')
    .description('list tokens with their state and uses (never the token itself)')
    .option('--json')
    .action(async (options: { json?: boolean }) => {
      const list = await api().listTokens();
      if (options.json) return printJson(list);
      if (list.length === 0) say('no enrolment tokens yet');
      for (const t of list) say(line(t));
    });

  tokens
    .command('revoke')
    .description('stop new enrolments with a token; devices it enrolled keep working')
    .argument('<id>')
    .action(async (id: string) => {
      const revoked = await api().revokeToken(id);
      say(`${revoked.id} revoked (${revoked.uses} device${revoked.uses === 1 ? '' : 's'} enrolled with it keep working)`);
    });
}
