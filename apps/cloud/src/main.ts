// first: re-executes with the cloud's V8 defaults before anything else loads (app/process-defaults.ts)
import './app/apply-process-defaults';
import { Logger } from '@nestjs/common';
import { startCloud } from './app/bootstrap';
import { CloudConfig, ConfigError } from './config/cloud.config';

/** Production entry point: configuration from the environment, validated before anything starts. */
async function main(): Promise<void> {
  const config = CloudConfig.fromEnv();
  const cloud = await startCloud(config);
  const logger = new Logger('Cloud');
  logger.log(`listening on ${cloud.url} (OpenAPI at ${cloud.url}/api/docs)`);
  if (cloud.firstAdminToken) {
    // shown once: only its hash is stored (set EDGELOOP_BOOTSTRAP_TOKEN to choose one instead)
    logger.warn(`first start without EDGELOOP_BOOTSTRAP_TOKEN: the admin token is ${cloud.firstAdminToken}`);
  }
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? err.message : ((err as Error)?.stack ?? String(err));
  process.stderr.write(`edgeloop cloud: ${message}\n`);
  process.exit(1);
});
