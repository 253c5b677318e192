import type { EdgeloopApi } from '@edgeloop/client';
import type { DeploymentResponse } from '@edgeloop/contracts';
import { Command } from 'commander';
import { cliApi } from '../api';
import { printJson, say } from '../output';

function labelsOf(pairs: string[] = []): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`"${pair}" is not KEY=VALUE`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

/** `edgeloop devices add|ls|show|disable|enable|quota|lift-quarantine`. */
export function registerDevices(program: Command): void {
  const devices = program.command('devices').description('edge devices');

  devices
    .command('add')
    .description('provision a device; prints its credentials once (JSON)')
    .argument('<name>', 'a readable name')
    .option('--id <id>', 'device id (default: generated)')
    .option('--group <group>')
    .option('--label <key=value...>', 'labels for selectors')
    .action(async (name: string, options: { id?: string; group?: string; label?: string[] }) => {
      const body = { name, ...(options.id ? { id: options.id } : {}), ...(options.group ? { group: options.group } : {}), labels: labelsOf(options.label) };
      printJson(await cliApi().provisionDevice(body));
    });

  devices
    .command('ls')
    .description('list devices with presence and what they run')
    .option('--group <group>')
    .option('--json')
    .action(async (options: { group?: string; json?: boolean }) => {
      const list = await cliApi().devices(options.group);
      if (options.json) return printJson(list);
      if (list.length === 0) say('no devices yet');
      for (const d of list) {
        const running = d.reported?.running ? `${d.reported.running.name}@${d.reported.running.version}` : '-';
        const health = d.reported ? `${d.reported.health.fps.toFixed(1)} fps p95 ${d.reported.health.latencyMs.p95.toFixed(0)} ms` : '';
        say(`${d.id}\t${d.presence}${d.disabled ? ' (disabled)' : ''}\t${d.group ?? '-'}\t${running}\t${d.reported?.state ?? '-'}\t${health}`);
      }
    });

  devices
    .command('show')
    .argument('<id>')
    .action(async (id: string) => printJson(await cliApi().device(id)));

  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    devices
      .command(verb)
      .description(`${verb} a device's credentials at once`)
      .argument('<id>')
      .action(async (id: string) => {
        await cliApi().setDeviceDisabled(id, disabled);
        say(`${id} ${verb}d`);
      });
  }

  devices
    .command('quota')
    .description("a device's quota: limits, messages dropped per kind, invalid messages, throttled, quarantine")
    .argument('<id>')
    .action(async (id: string) => printJson(await cliApi().deviceQuota(id)));

  devices
    .command('lift-quarantine')
    .description("lift a device's quarantine: its broker access comes back (unless it is disabled) with full buckets")
    .argument('<id>')
    .action(async (id: string) => {
      const { quarantine } = await cliApi().liftQuarantine(id);
      say(`${id}: quarantine lifted (it was ${quarantine.reason}, ${quarantine.strikes} strikes, since ${quarantine.quarantinedAt})`);
    });
}

/** Follows a deployment until it ends, printing each change of a device's phase. */
export async function followDeployment(api: EdgeloopApi, id: string, pollMs = 1000): Promise<DeploymentResponse> {
  const seen = new Map<string, string>();
  for (;;) {
    const deployment = await api.deployment(id);
    for (const d of deployment.devices) {
      const line = `${d.phase}${d.state ? ` (${d.state})` : ''}${d.failure ? `: ${d.failure.code} ${d.failure.message}` : ''}`;
      if (seen.get(d.deviceId) !== line) {
        seen.set(d.deviceId, line);
        say(`  batch ${d.batch}  ${d.deviceId}  ${line}`);
      }
    }
    if (!['pending', 'in_progress', 'rolling_back'].includes(deployment.status)) {
      say(`${id}: ${deployment.status}${deployment.reason ? ` — ${deployment.reason}` : ''}`);
      return deployment;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
