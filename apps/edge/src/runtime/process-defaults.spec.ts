import { relaunchWithDefaults as relaunch } from '@edgeloop/config';
import { EDGE_PROCESS_DEFAULTS } from './process-defaults';

const relaunchWithDefaults = (launch: Parameters<typeof relaunch>[0]) => relaunch(launch, EDGE_PROCESS_DEFAULTS);

const launch = (env: NodeJS.ProcessEnv, execArgv: string[] = []) => ({
  env,
  execArgv,
  argv: ['/usr/bin/node', '/app/dist/apps/edge/src/main.js', '--flag'],
  execPath: '/usr/bin/node',
});

describe('relaunchWithDefaults', () => {
  it('adds the malloc tunables and the V8 flags (young generation, top compiler tier, old-generation growth) a plain `node main.js` start lacks', () => {
    const relaunch = relaunchWithDefaults(launch({ PATH: '/bin', EDGE_DEVICE_ID: 'cam-1' }));
    expect(relaunch).toEqual({
      file: '/usr/bin/node',
      args: ['/usr/bin/node', '--max-semi-space-size=1', '--max-opt=2', '--heap-growing-percent=20', '/app/dist/apps/edge/src/main.js', '--flag'],
      env: { PATH: '/bin', EDGE_DEVICE_ID: 'cam-1', MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' },
    });
  });

  it('starts nothing again once everything is in place, whoever set it (no loop after the relaunch)', () => {
    const first = relaunchWithDefaults(launch({ PATH: '/bin' }))!;
    const again = relaunchWithDefaults({
      env: first.env,
      execArgv: ['--max-semi-space-size=1', '--max-opt=2', '--heap-growing-percent=20'],
      argv: launch({}).argv,
      execPath: '/usr/bin/node',
    });
    expect(again).toBeNull();
    // the container image: allocator settings and the semi-space in ENV, the V8 flags node refuses in NODE_OPTIONS in CMD
    const container = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072', NODE_OPTIONS: '--max-semi-space-size=1' };
    expect(relaunchWithDefaults(launch(container, ['--max-opt=2', '--heap-growing-percent=20']))).toBeNull();
    expect(relaunchWithDefaults(launch(container, ['--max-opt=2']))?.args).toEqual([
      '/usr/bin/node',
      '--max-opt=2',
      '--heap-growing-percent=20',
      '/app/dist/apps/edge/src/main.js',
      '--flag',
    ]);
  });

  it('keeps what the operator chose: their values win, node flags they gave are kept in order', () => {
    const relaunch = relaunchWithDefaults(launch({ MALLOC_ARENA_MAX: '4', NODE_OPTIONS: '--max_semi_space_size=8' }, ['--inspect', '--max_opt=3']));
    expect(relaunch?.env).toMatchObject({ MALLOC_ARENA_MAX: '4', MALLOC_TRIM_THRESHOLD_: '131072', NODE_OPTIONS: '--max_semi_space_size=8' });
    expect(relaunch?.args).toEqual(['/usr/bin/node', '--inspect', '--max_opt=3', '--heap-growing-percent=20', '/app/dist/apps/edge/src/main.js', '--flag']);
    expect(relaunchWithDefaults(launch({}, ['--heap_growing_percent=50', '--max-opt=2', '--max-semi-space-size=2']))?.args).toEqual([
      '/usr/bin/node',
      '--heap_growing_percent=50',
      '--max-opt=2',
      '--max-semi-space-size=2',
      '/app/dist/apps/edge/src/main.js',
      '--flag',
    ]);
  });
});
