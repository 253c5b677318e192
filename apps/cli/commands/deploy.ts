import type { DeploymentStrategy } from '@edgeloop/contracts';
import { Command } from 'commander';
import { cliApi } from '../api';
import { printJson, say } from '../output';
import { followDeployment } from './devices';

interface DeployOptions {
  group?: string;
  devices?: string;
  selector?: string;
  canary?: string;
  batch: string;
  observe: string;
  maxFailure: string;
  minFps?: string;
  autoRollback: boolean;
  follow: boolean;
  json?: boolean;
}

/** `30s`, `2m`, `90` → seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a duration like 30s, 2m or 1h`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? 's') as 's' | 'm' | 'h'];
}

/** `edgeloop deploy NAME@REF …` and `edgeloop rollback ID`. */
export function registerDeploy(program: Command): void {
  program
    .command('deploy')
    .description('roll a model version out to devices and follow it live')
    .argument('<ref>', 'NAME@VERSION or NAME@ALIAS')
    .option('--group <group>', 'target a device group')
    .option('--devices <ids>', 'target these device ids (comma-separated)')
    .option('--selector <k=v,…>', 'target devices whose labels all match')
    .option('--canary <percent>', 'canary rollout: this share of the devices first')
    .option('--batch <n>', 'devices per batch after the canary', '5')
    .option('--observe <duration>', 'health gate observation time per batch', '30s')
    .option('--max-failure <percent>', 'the gate fails above this share of failed devices', '0')
    .option('--min-fps <fps>', 'the gate fails below this frame rate')
    .option('--no-auto-rollback', 'leave devices as they are when the gate fails')
    .option('--no-follow', 'return at once instead of following the rollout')
    .option('--json', 'print the final deployment as JSON')
    .action(async (ref: string, options: DeployOptions) => {
      const targets = [
        ...(options.group ? [{ group: options.group }] : []),
        ...(options.devices ? [{ devices: options.devices.split(',').map((d) => d.trim()).filter(Boolean) }] : []),
        ...(options.selector ? [{ selector: parseSelector(options.selector) }] : []),
      ];
      if (targets.length !== 1) throw new Error('give exactly one of --group, --devices, --selector');
      const strategy: DeploymentStrategy = options.canary
        ? {
            type: 'canary',
            percent: Number(options.canary),
            batchSize: Number(options.batch),
            observeSeconds: parseDuration(options.observe),
            maxFailurePercent: Number(options.maxFailure),
            ...(options.minFps ? { minFps: Number(options.minFps) } : {}),
            autoRollback: options.autoRollback,
          }
        : { type: 'all' };
      const api = cliApi();
      const created = await api.createDeployment({ model: ref, target: targets[0]!, strategy });
      say(`deployment ${created.id}: ${created.model.name}@${created.model.version} to ${created.devices.length} device(s) (${strategy.type})`);
      const final = options.follow ? await followDeployment(api, created.id) : created;
      if (options.json) printJson(final);
      if (options.follow && final.status !== 'completed') process.exitCode = 1;
    });

  program
    .command('rollback')
    .description('put every device a deployment touched back on its previous version')
    .argument('<id>', 'deployment id')
    .option('--reason <text>')
    .action(async (id: string, options: { reason?: string }) => {
      const result = await cliApi().rollback(id, options.reason);
      say(`${id}: ${result.status}`);
    });
}

function parseSelector(text: string): Record<string, string> {
  return Object.fromEntries(
    text.split(',').map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`"${pair}" is not KEY=VALUE`);
      return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
    }),
  );
}
