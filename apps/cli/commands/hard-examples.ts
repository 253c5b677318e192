import { ApiError, type HardExampleQuery } from '@edgeloop/client';
import { HARD_EXAMPLE_REASONS, type HardExampleReason, type HardExampleResponse, type HardExampleVerdict } from '@edgeloop/contracts';
import { Command, InvalidArgumentError, Option } from 'commander';
import { cliApi as api } from '../api';
import { printJson, say, warn } from '../output';

/** `GET /hard-examples` answers at most this many, newest first; pages are cut from that window. */
export const MAX_LISTED = 1000;

function positiveInt(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`expected a whole number from 1 to ${max}`);
    return n;
  };
}

/** `face-id` or `face-id@3`: the list route filters by model name and version (an alias is not resolved there). */
export function parseModelFilter(value: string): { model: string; version?: number } {
  const match = /^([^@\s]+)(?:@(\d+))?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected NAME or NAME@VERSION (a version number, not an alias)');
  return { model: match[1], ...(match[2] ? { version: Number(match[2]) } : {}) };
}

/** The verdict of `label`: exactly one of --identity, --not-a-face, --unknown. */
export function verdictOf(options: { identity?: string; notAFace?: boolean; unknown?: boolean }): HardExampleVerdict {
  const chosen = [options.identity !== undefined, options.notAFace === true, options.unknown === true].filter(Boolean).length;
  if (chosen !== 1) throw new Error('say what the faces are: exactly one of --identity <name>, --not-a-face or --unknown');
  if (options.identity !== undefined) return { verdict: 'identity', identity: options.identity };
  return options.notAFace ? { verdict: 'not_a_face' } : { verdict: 'unknown' };
}

/** One row of `ls`. A confirmed stranger has no label in the answer; under `--labelled` that is what a missing label means. */
function row(example: HardExampleResponse, labelledOnly: boolean): string {
  const label = example.label ? (example.label.verdict === 'identity' ? example.label.identity : 'not-a-face') : labelledOnly ? 'unknown' : '-';
  const score = example.score === null ? '-' : example.score.toFixed(3);
  const margin = example.margin === null ? '-' : example.margin.toFixed(3);
  return [
    example.id,
    example.deviceId,
    `${example.model.name}@${example.model.version}`,
    example.reason,
    example.candidate ?? '-',
    score,
    margin,
    label,
    example.cropUrl ? 'crop' : 'no-crop',
    example.capturedAt,
  ].join('\t');
}

/** `edgeloop hard-examples ls|label`: the labelling queue from a terminal (the dashboard's Hard examples page). */
export function registerHardExamples(program: Command): void {
  const hardExamples = program.command('hard-examples').description('low-confidence faces sent by devices, and their labels');

  hardExamples
    .command('ls')
    .description('list hard examples, newest first: id, device, model, reason, candidate, score, margin, label, crop, captured at')
    .option('--device <id>', 'only from this device')
    .option('--model <name[@version]>', 'only of this model (and version)', parseModelFilter)
    .addOption(new Option('--reason <reason>', 'only with this reason').choices([...HARD_EXAMPLE_REASONS]))
    .option('--labelled', 'only labelled ones (an identity, not a face, or a confirmed unknown)')
    .option('--unlabelled', 'only the ones still waiting for a label')
    .option('--limit <n>', 'rows per page', positiveInt(MAX_LISTED), 50)
    .option('--page <n>', `page number (pages reach back ${MAX_LISTED} examples; narrow with filters beyond that)`, positiveInt(MAX_LISTED), 1)
    .option('--json', 'the page as one JSON array (the API shape)')
    .action(
      async (options: {
        device?: string;
        model?: { model: string; version?: number };
        reason?: HardExampleReason;
        labelled?: boolean;
        unlabelled?: boolean;
        limit: number;
        page: number;
        json?: boolean;
      }) => {
        if (options.labelled && options.unlabelled) throw new Error('--labelled and --unlabelled exclude each other');
        const upTo = options.limit * options.page;
        if (upTo > MAX_LISTED)
          throw new Error(
            `--page ${options.page} with --limit ${options.limit} reaches past the newest ${MAX_LISTED}; narrow with --device, --model or --reason`,
          );
        const query: HardExampleQuery = {
          device: options.device,
          ...options.model,
          reason: options.reason,
          labelled: options.labelled ? true : options.unlabelled ? false : undefined,
          // one more than the page, to know whether another page follows
          limit: Math.min(upTo + 1, MAX_LISTED),
        };
        const fetched = await api().hardExamples(query);
        const page = fetched.slice(upTo - options.limit, upTo);
        if (options.json) return printJson(page);
        if (page.length === 0) say(options.page === 1 ? 'no hard examples match' : `page ${options.page} is empty`);
        for (const example of page) say(row(example, options.labelled === true));
        if (fetched.length > upTo && upTo < MAX_LISTED) warn(`more: --page ${options.page + 1}`);
      },
    );

  hardExamples
    .command('label')
    .description('label hard examples, all or nothing: as a person of the gallery, as not a face, or as a confirmed stranger')
    .argument('<id...>', 'hard example ids (as `ls` prints them)')
    .option('--identity <name>', 'the person (an identity name; see `edgeloop identities ls`)')
    .option('--not-a-face', 'the detector was wrong')
    .option('--unknown', 'a stranger: kept as a negative for training')
    .option('--json')
    .action(async (ids: string[], options: { identity?: string; notAFace?: boolean; unknown?: boolean; json?: boolean }) => {
      const verdict = verdictOf(options);
      const unique = [...new Set(ids)];
      let answer;
      try {
        answer = await api().labelHardExamples(unique, verdict);
      } catch (err) {
        if (err instanceof ApiError && err.code === 'identity_not_found' && verdict.verdict === 'identity') {
          throw new Error(`${err.message}; nothing was labelled (create it with \`edgeloop identities add ${verdict.identity}\`)`);
        }
        throw err;
      }
      if (options.json) return printJson(answer);
      const what = verdict.verdict === 'identity' ? verdict.identity : verdict.verdict === 'not_a_face' ? 'not a face' : 'unknown';
      say(`labelled ${answer.labelled} hard example${answer.labelled === 1 ? '' : 's'} ${what}`);
    });
}
