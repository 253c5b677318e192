import { Command } from 'commander';
import { registerCommands } from './commands';

/** The `edgeloop` command line: each command lives in its own file under ./commands. */
async function main(argv: string[]): Promise<void> {
  const program = new Command('edgeloop')
    .description('edgeloop: cloud-edge lifecycle for face-recognition models')
    .showHelpAfterError();
  registerCommands(program);
  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`edgeloop: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
