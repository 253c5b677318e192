import type { ProcessDefaults } from '@edgeloop/config';

/**
 * The cloud's own V8 settings, applied however it is started (libs/config `applyProcessDefaults`, from
 * apply-process-defaults.ts, first in main.ts). Figures: docs/benchmarks.md, "Cloud memory".
 *
 * The young generation (semi-space) grows with what survives its collections; booting Nest, the queues and
 * the SQL client makes it grow to 32 MB per half and V8 keeps that memory after the boot: 60–75 MB of the
 * idle cloud's RSS held by two near-empty semi-spaces. 8 MB per half keeps the idle cloud ≈ 60 MB smaller.
 */
export const CLOUD_PROCESS_DEFAULTS: ProcessDefaults = {
  nodeFlags: [
    { flag: '--max-semi-space-size', value: '8' },
    // A full collection once the old generation has grown a fifth over what the last one kept, instead of V8's own
    // factor (up to 4×, larger on an idle machine). At 200 devices the cloud promotes ≈ 150 MB a minute (jobs and
    // batches in flight outlive two scavenges) while it keeps ≈ 105 MB live: under V8's factor the heap peaked at
    // 210 MB, then 260 MB, and every higher peak left its pages committed — RSS 612 → 680 MB in steps over a quiet
    // 30-minute soak whose live heap stayed flat (docs/benchmarks.md, "Soak").
    { flag: '--heap-growing-percent', value: '20' },
  ],
};
