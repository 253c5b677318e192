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
    // A full collection once the old generation has grown by half over what the last one kept, instead of V8's own
    // factor (up to 4×, larger on an idle machine). Under V8's factor a quiet 30-minute soak (200 devices) saw the
    // heap peak at 210, then 260 MB, every higher peak leaving its pages committed: RSS 612 → 680 MB in steps while
    // the live heap stayed flat. A fifth (20, the value before) kept that soak flat too, but put the next limit within
    // the slack at which V8 starts marking: during a 210 MB model upload the cloud marked again right after each
    // mark-compact (17–18 per upload, 30–40 % of its event loop; API upload 0.56–0.85× a direct put). With 50: the
    // upload 0.87–0.99× (the cloud's user CPU per upload 0.94–0.96 s, 1.13–1.64 s with 20), the soak flat (≈ 30 MB
    // more RSS than with 20, same slope), the idle cloud 188–199 MB on PostgreSQL (docs/benchmarks.md, "Upload",
    // "Cloud memory", "Soak").
    { flag: '--heap-growing-percent', value: '50' },
  ],
};
