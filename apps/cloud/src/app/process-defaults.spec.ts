import { relaunchWithDefaults as relaunch } from '@edgeloop/config';
import { CLOUD_PROCESS_DEFAULTS } from './process-defaults';

const relaunchWithDefaults = (launch: Parameters<typeof relaunch>[0]) => relaunch(launch, CLOUD_PROCESS_DEFAULTS);

const launch = (env: NodeJS.ProcessEnv, execArgv: string[] = []) => ({
  env,
  execArgv,
  argv: ['/usr/bin/node', '/app/dist/apps/cloud/src/main.js'],
  execPath: '/usr/bin/node',
});

describe('relaunchWithDefaults (cloud)', () => {
  it('adds the young-generation cap and heap growth a plain `node main.js` start lacks, before the script, keeping the environment', () => {
    expect(relaunchWithDefaults(launch({ PATH: '/bin', DATABASE_URL: 'postgres://db/edgeloop' }))).toEqual({
      file: '/usr/bin/node',
      args: ['/usr/bin/node', '--max-semi-space-size=8', '--heap-growing-percent=50', '/app/dist/apps/cloud/src/main.js'],
      env: { PATH: '/bin', DATABASE_URL: 'postgres://db/edgeloop' },
    });
  });

  it('starts nothing again once the flag is there, on the command line or in NODE_OPTIONS (no loop after the relaunch)', () => {
    const first = relaunchWithDefaults(launch({ PATH: '/bin' }))!;
    expect(relaunchWithDefaults({ ...launch(first.env), execArgv: first.args.slice(1, -1) })).toBeNull();
    expect(relaunchWithDefaults(launch({ NODE_OPTIONS: '--require /hook.js --max-semi-space-size=8 --heap-growing-percent=50' }))).toBeNull();
  });

  it("keeps the operator's value, in either spelling, and the flags they gave in their order", () => {
    expect(relaunchWithDefaults(launch({ NODE_OPTIONS: '--max_semi_space_size=32 --heap_growing_percent=20' }))).toBeNull();
    expect(relaunchWithDefaults(launch({}, ['--inspect', '--max-semi-space-size=64', '--heap-growing-percent=30']))).toBeNull();
    // one of the two given: only the other is added
    expect(relaunchWithDefaults(launch({}, ['--max-semi-space-size=64']))?.args).toEqual([
      '/usr/bin/node',
      '--max-semi-space-size=64',
      '--heap-growing-percent=50',
      '/app/dist/apps/cloud/src/main.js',
    ]);
    expect(relaunchWithDefaults(launch({}, ['--inspect', '--enable-source-maps']))?.args).toEqual([
      '/usr/bin/node',
      '--inspect',
      '--enable-source-maps',
      '--max-semi-space-size=8',
      '--heap-growing-percent=50',
      '/app/dist/apps/cloud/src/main.js',
    ]);
  });
});
