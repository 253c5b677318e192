import { z } from 'zod';

/** Raised at boot when configuration is invalid; lists every bad variable at once. */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Validates an environment-like record into a typed object, or throws one ConfigError naming every bad variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  return result.data;
}

/** Shared variable types for environment schemas. */
export const envTypes = {
  port: z.coerce.number().int().min(0).max(65535),
  bool: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  positiveInt: z.coerce.number().int().positive(),
};
export { packageVersion } from './package-version';
export { applyProcessDefaults, missingNodeFlags, relaunchWithDefaults, type ProcessDefaults, type ProcessLaunch, type Relaunch } from './process-defaults';
