import type { ProcessDefaults } from '@edgeloop/config';

/**
 * The cloud's own V8 settings, applied however it is started (libs/config `applyProcessDefaults`, from
 * apply-process-defaults.ts, first in main.ts). Figures: docs/benchmarks.md, "Cloud memory".
 *
 * The young generation (semi-space) grows with what survives its collections; booting Nest, the queues and
 * the SQL client makes it grow to 32 MB per half and V8 keeps that memory after the boot: 60–75 MB of the
 * idle cloud's RSS held by two near-empty semi-spaces. 8 MB per half keeps the idle cloud ≈ 60 MB smaller.
 */
export const CLOUD_PROCESS_DEFAULTS: ProcessDefaults = { nodeFlags: [{ flag: '--max-semi-space-size', value: '8' }] };
