import preact from '@preact/preset-vite';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The dashboard build: static files for the cloud to serve at `/`. No inline script or style (the cloud's
 * CSP is `script-src 'self'`), so the module-preload polyfill is off; assets carry content hashes.
 * `EDGELOOP_DASHBOARD_OUT` moves the output (tests build into a temporary folder).
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: false })],
  resolve: {
    alias: {
      '@edgeloop/contracts': `${root}libs/contracts/src/browser.ts`,
      '@edgeloop/client': `${root}libs/client/src/browser.ts`,
    },
  },
  build: {
    outDir: process.env.EDGELOOP_DASHBOARD_OUT ?? `${root}dist/dashboard`,
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: true,
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
