/**
 * Loaded into the bench's cloud with `--require` (NODE_OPTIONS) when BENCH_UPLOAD_CLOUD_V8_FLAGS is set: applies
 * those V8 flags at run time, after the cloud relaunched itself with its own defaults (apps/cloud/src/app/
 * process-defaults.ts). For A/B runs of settings NODE_OPTIONS does not accept, such as --heap-growing-percent;
 * V8 reads that one each time it sets the next collection's limit, so a value set here takes over from the
 * command line's. Never part of a deployment: the cloud's own defaults are what the upload figure measures.
 * The cloud has booted with its own value by then (the heap's first limits are set); BENCH_CLOUD_NODE_FLAGS puts a
 * flag on the cloud's command line instead, as a deployment would give it, and is the way to compare defaults.
 */
import { setFlagsFromString } from 'node:v8';

const flags = process.env.BENCH_UPLOAD_CLOUD_V8_FLAGS?.trim();
if (flags) for (const flag of flags.split(/\s+/)) setFlagsFromString(flag);
