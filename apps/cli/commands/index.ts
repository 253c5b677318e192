import type { Command } from 'commander';
import { registerInfer } from './infer';

/** Every CLI command registers itself here; one file per command group. */
export function registerCommands(program: Command): void {
  registerInfer(program);
}
