/**
 * Where a bench's results go: `bench/results/<name>.json` holds the newest run (what each section of
 * docs/benchmarks.md describes), and every run is also appended as one line to
 * `bench/results/history/<name>.jsonl`, so the Summary table (`npm run bench:summary`, bench/summary/)
 * can give a range over the runs rather than one run's figure.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The results file's name a bench takes from `variable` (for runs the Summary must not count, e.g. an A/B), or
 * `defaultName`: a plain file name in bench/results ending in .json, never a path.
 */
export function resultsNameFromEnv(variable: string, defaultName: string, env: NodeJS.ProcessEnv = process.env): string {
  const name = env[variable] ?? defaultName;
  if (!/^[\w.-]+\.json$/.test(name)) throw new Error(`${variable} is ${name}: a file name in bench/results ending in .json`);
  return name;
}

/** The history file that belongs to a results file. */
export function historyFileOf(resultsFile: string): string {
  return path.join(path.dirname(resultsFile), 'history', `${path.basename(resultsFile, '.json')}.jsonl`);
}

/** Writes `document` to `file` (atomically) and appends it to the file's history. */
export function writeResultsFile(file: string, document: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(document, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  const history = historyFileOf(file);
  mkdirSync(path.dirname(history), { recursive: true });
  appendFileSync(history, `${JSON.stringify(document)}\n`);
}

/**
 * Every run kept for `file`, oldest first: the history's lines, then the results file itself when the
 * history does not hold it already (results written before the history existed). A line that does not
 * parse is an error naming the line — a history is written only by `writeResultsFile`.
 */
export function readResultsHistory(file: string): unknown[] {
  const runs: unknown[] = [];
  const history = historyFileOf(file);
  if (existsSync(history)) {
    readFileSync(history, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (line.trim() === '') return;
        try {
          runs.push(JSON.parse(line));
        } catch (error) {
          throw new Error(`${history}:${i + 1} is not JSON: ${(error as Error).message}`);
        }
      });
  }
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    const current = JSON.parse(text) as unknown;
    const same = JSON.stringify(current);
    if (!runs.some((run) => JSON.stringify(run) === same)) runs.push(current);
  }
  return runs;
}
