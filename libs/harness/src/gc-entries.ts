import type { PerformanceEntry } from 'node:perf_hooks';

/** perf_hooks' NODE_PERFORMANCE_GC_* kinds (V8's GCType). */
const GC_KINDS: Record<number, string> = { 1: 'scavenge', 2: 'minor mark-sweep', 4: 'mark-compact', 8: 'incremental marking', 16: 'weak callbacks' };

/** perf_hooks' NODE_PERFORMANCE_GC_FLAGS_* worth naming: why V8 collected. */
const GC_FLAGS: Record<number, string> = { 4: 'forced', 16: 'all available garbage', 32: 'external memory', 64: 'idle' };

/** NODE_PERFORMANCE_GC_FLAGS_ALL_EXTERNAL_MEMORY: a collection V8 started for external (ArrayBuffer) memory. */
const EXTERNAL_MEMORY = 32;

/**
 * A `gc` performance entry described for a trace: its kind, the reasons V8 gave (`mark-compact [external memory]`)
 * and whether it was started for external memory. Shared by the benches and the tests that log their pauses.
 */
export function describeGc(entry: PerformanceEntry): { label: string; external: boolean } {
  const detail = (entry as { detail?: unknown }).detail as { kind?: number; flags?: number } | undefined;
  const kind = detail?.kind === undefined ? 'gc' : (GC_KINDS[detail.kind] ?? `gc ${detail.kind}`);
  const flags = detail?.flags ?? 0;
  const reasons = Object.entries(GC_FLAGS)
    .filter(([bit]) => (flags & Number(bit)) !== 0)
    .map(([, name]) => name);
  return { label: reasons.length ? `${kind} [${reasons.join(', ')}]` : kind, external: (flags & EXTERNAL_MEMORY) !== 0 };
}
