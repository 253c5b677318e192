import type { ProcessDefaults } from '@edgeloop/config';

/**
 * The edge worker's own memory settings, applied however it is started (libs/config `applyProcessDefaults`,
 * from apply-process-defaults.ts, second in main.ts). Figures: docs/edge.md, "Memory".
 */
export const EDGE_PROCESS_DEFAULTS: ProcessDefaults = {
  /** glibc malloc: two arenas instead of eight per core, memory given back to the kernel from 128 KiB. */
  env: { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' },
  /** V8: a 1 MB young generation (semi-space) suits one frame at a time; the default grows it to 16 MB. */
  nodeFlags: [
    { flag: '--max-semi-space-size', value: '1' },
    // V8: no TurboFan (Maglev is the top tier). 6–10 MB less RSS — TurboFan's code pages in the node binary and
    // its compile memory — and no slower a frame: the JavaScript of a frame is a small part of it and Maglev
    // code runs it as fast (docs/benchmarks.md, "Edge worker"). Not accepted in NODE_OPTIONS: on the command line.
    { flag: '--max-opt', value: '2' },
    // V8: a full collection once the old generation has grown by a fifth over what the last one kept, instead
    // of V8's own factor (up to 4× on a busy core). With a 1 MB young generation a frame's short-lived objects
    // and buffers are promoted, and under V8's factor they piled up between full collections: +15 to +26 MB
    // over 50 head-only switches, peaks of 177–183 MB. With this: +9.5 MB, peak 160.5 MB (docs/benchmarks.md,
    // "Edge worker"). The live heap is ≈ 17 MB, so a collection comes every few MB of promotion.
    { flag: '--heap-growing-percent', value: '20' },
  ],
};
