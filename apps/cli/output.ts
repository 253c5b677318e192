/** The CLI's output: lines for people on stdout, JSON lines for programs, problems on stderr. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function warn(line: string): void {
  process.stderr.write(`${line}\n`);
}
