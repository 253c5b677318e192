import { CreateWebhookRequestSchema, describeZodError, METRIC_BUCKETS, type PredictionMetricsQuery } from '@edgeloop/contracts';
import { Command } from 'commander';
import { cliApi } from '../api';
import { printJson, say } from '../output';

/** A whole number given on the command line, or an error naming the option. */
function wholeNumber(option: string, text: string): number {
  if (!/^[0-9]+$/.test(text)) throw new Error(`${option} takes a whole number, not "${text}"`);
  return Number(text);
}

/** `edgeloop drift ls`, `edgeloop webhooks add|ls|deliveries|rm`, `edgeloop metrics`. */
export function registerObserve(program: Command): void {
  const drift = program.command('drift').description('drift events');
  drift
    .command('ls')
    .description('list drift events, newest first')
    .option('--model <name>')
    .option('--version <n>')
    .option('--json')
    .action(async (options: { model?: string; version?: string; json?: boolean }) => {
      const events = await cliApi().driftEvents({
        ...(options.model ? { model: options.model } : {}),
        ...(options.version ? { version: wholeNumber('--version', options.version) } : {}),
      });
      if (options.json) return printJson(events);
      if (events.length === 0) say('no drift events');
      for (const e of events) {
        const evidence = e.evidence.map((x) => `${x.metric} ${x.value.toFixed(3)}≥${x.threshold}`).join(', ');
        say(`${e.detectedAt}\t${e.model.name}@${e.model.version}\t${e.devices.join(',')}\t${evidence}`);
      }
    });

  const webhooks = program.command('webhooks').description('webhook subscriptions and their deliveries');
  webhooks
    .command('add')
    .description('subscribe a URL to events; prints the subscription (with its secret, once)')
    .argument('<url>')
    .requiredOption('--events <list>', 'comma-separated: drift.detected,model.version.created,deployment.completed,deployment.failed,deployment.rolled_back,…')
    .option('--secret <secret>', 'the HMAC secret (default: generated and shown once)')
    .option('--description <text>')
    .action(async (url: string, options: { events: string; secret?: string; description?: string }) => {
      const body = CreateWebhookRequestSchema.safeParse({
        url,
        events: options.events.split(',').map((e) => e.trim()).filter(Boolean),
        ...(options.secret ? { secret: options.secret } : {}),
        ...(options.description ? { description: options.description } : {}),
      });
      if (!body.success) throw new Error(`cannot subscribe: ${describeZodError(body.error)}`);
      printJson(await cliApi().createWebhook(body.data));
    });
  webhooks
    .command('ls')
    .option('--json')
    .action(async (options: { json?: boolean }) => {
      const list = await cliApi().webhooks();
      if (options.json) return printJson(list);
      if (list.length === 0) say('no webhooks');
      for (const w of list) say(`${w.id}\t${w.url}\t${w.events.join(',')}`);
    });
  webhooks
    .command('deliveries')
    .description('the delivery log of a subscription: every attempt with status and latency')
    .argument('<id>')
    .action(async (id: string) => printJson({ deliveries: await cliApi().deliveries(id) }));
  webhooks
    .command('rm')
    .argument('<id>')
    .action(async (id: string) => {
      await cliApi().deleteWebhook(id);
      say(`${id} removed`);
    });

  program
    .command('metrics')
    .description('prediction aggregates: frames, faces, unknown rate, scores, latency, input statistics')
    .option('--model <ref>', 'name@version or name@alias')
    .option('--device <id>')
    .option('--group <group>')
    .option('--from <iso>')
    .option('--to <iso>')
    .option('--bucket <bucket>', 'minute, hour or day', 'minute')
    .option('--json')
    .action(async (options: { model?: string; device?: string; group?: string; from?: string; to?: string; bucket: string; json?: boolean }) => {
      if (!(METRIC_BUCKETS as readonly string[]).includes(options.bucket)) throw new Error(`--bucket is one of ${METRIC_BUCKETS.join(', ')}, not "${options.bucket}"`);
      const query: PredictionMetricsQuery = { bucket: options.bucket as PredictionMetricsQuery['bucket'] };
      for (const key of ['model', 'device', 'group', 'from', 'to'] as const) if (options[key]) query[key] = options[key];
      const { rows } = await cliApi().predictionMetrics(query);
      if (options.json) return printJson(rows);
      if (rows.length === 0) say('no predictions in that range');
      say('bucket\tmodel\tdevice\tframes\tfaces\tunknown\tscore\tp95 ms\tbrightness');
      for (const r of rows) {
        say(
          `${r.bucketStart}\t${r.model.name}@${r.model.version}\t${r.deviceId ?? '*'}\t${r.frames}\t${r.faces}\t${(r.unknownRate * 100).toFixed(1)}%\t${r.meanScore?.toFixed(2) ?? '-'}\t${r.latencyMs.total.p95.toFixed(0)}\t${r.stats?.brightness.toFixed(0) ?? '-'}`,
        );
      }
    });
}
