import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';

const LoginSchema = z.object({ url: z.string().url(), token: z.string().min(1) });
export type Login = z.infer<typeof LoginSchema>;

/** Where `edgeloop login` keeps the cloud URL and token: EDGELOOP_CLI_CONFIG, or ~/.config/edgeloop/cli.json. */
export function loginFile(): string {
  return process.env.EDGELOOP_CLI_CONFIG ?? join(process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'edgeloop', 'cli.json');
}

export function saveLogin(login: Login): void {
  const file = loginFile();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(LoginSchema.parse(login), null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** The stored login, overridden by EDGELOOP_URL / EDGELOOP_TOKEN; a clear error when there is none. */
export function loadLogin(): Login {
  const stored = existsSync(loginFile()) ? LoginSchema.safeParse(JSON.parse(readFileSync(loginFile(), 'utf8'))) : undefined;
  const url = process.env.EDGELOOP_URL ?? (stored?.success ? stored.data.url : undefined);
  const token = process.env.EDGELOOP_TOKEN ?? (stored?.success ? stored.data.token : undefined);
  if (!url || !token) throw new Error('not logged in: run `edgeloop login URL --token TOKEN` (or set EDGELOOP_URL and EDGELOOP_TOKEN)');
  return { url: url.replace(/\/+$/, ''), token };
}
