import type { ServeStaticModuleOptions } from '@nestjs/serve-static';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ServerResponse } from 'node:http';

/** Hashed files under `assets/` never change under their name; everything else (index.html) is revalidated. */
export const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';

/** The built dashboard: the configured folder, else `dist/dashboard` under the project root when it was built. */
export function findDashboardDir(configured?: string): string | undefined {
  if (configured) return existsSync(join(configured, 'index.html')) ? configured : undefined;
  let dir = __dirname;
  while (dirname(dir) !== dir && !existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  const built = join(dir, 'dist', 'dashboard');
  return existsSync(join(built, 'index.html')) ? built : undefined;
}

/** Serves the single-page app at `/`: static files, and index.html for every other GET outside the API. */
export function dashboardStaticOptions(rootPath: string): ServeStaticModuleOptions {
  return {
    rootPath,
    exclude: ['/api/{*rest}', '/assets/{*rest}', '/metrics'],
    serveStaticOptions: {
      index: 'index.html',
      cacheControl: false,
      fallthrough: true,
      setHeaders(res: ServerResponse, path: string) {
        const immutable = /[\\/]assets[\\/][^\\/]+-[A-Za-z0-9_-]{8,}\.\w+$/.test(path);
        res.setHeader('Cache-Control', immutable ? IMMUTABLE_CACHE : 'no-cache');
      },
    },
  };
}
