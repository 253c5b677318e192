/**
 * What production runs in the embedded mode and needs from the machine: binary lookup (ffmpeg, redis-server).
 * Import `@edgeloop/embedded/binaries` where only the lookup is needed.
 */
export * from './binaries';
