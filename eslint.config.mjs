// ESLint for the whole repository: `npm run lint` (and .ci/run). typescript-eslint's recommended rules
// without type information (fast), tuned so they find bugs rather than restyle code, plus the layering
// rules of shared style: libs never import apps, production code never imports test support.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const TEST_FILES = ['**/*.spec.ts', '**/*.spec.tsx', '**/*.int.ts', '**/*.e2e.ts', '**/testing/**', 'e2e/**', 'bench/**', 'libs/harness/**'];

/** libs/** may not reach into apps/** (a relative path climbing out of libs/ into apps/). */
const LIBS_IMPORT_NO_APP = {
  regex: '^(\\.\\./)+apps(/|$)',
  message: 'A lib may not import an app: move what both need into a lib (see docs/architecture.md, "Layout").',
};

/**
 * Apps never import each other (shared style, rule 1), tests included: what two apps share is a lib, and a
 * test that needs two apps is an e2e test. An app's folder is named `<app>/src` (`cli/` has no src), which
 * leaves an app's own folders of the same name alone (apps/cloud/src/dashboard).
 */
const APPS = ['cloud', 'edge', 'cli', 'dashboard'];
const appFolder = (app) => (app === 'cli' ? 'cli(/|$)' : `${app}/src(/|$)`);
const otherApps = (app) => ({
  regex: `^(\\.\\./)+(apps/)?(${APPS.filter((other) => other !== app)
    .map(appFolder)
    .join('|')})`,
  message: `apps/${app} may not import another app: move what both need into a lib (test kits: libs/harness), or make the test an e2e test (e2e/).`,
});

/** Test support: the test harness, fixtures, specs and integration tests. */
const TEST_SUPPORT = {
  harness: {
    group: ['@edgeloop/harness', '@edgeloop/harness/**'],
    message: 'Production code may not import the test harness: the servers of the embedded mode are in @edgeloop/embedded.',
  },
  testing: {
    regex: '(^|/)testing(/|$)',
    message: 'Production code may not import test support (a testing/ folder).',
  },
  tests: {
    regex: '\\.(spec|int|e2e)(\\.ts)?$',
    message: 'Production code may not import a test file.',
  },
};

const restrict = (...patterns) => ['error', { patterns }];

export default defineConfig(
  {
    ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'data/**', 'models/**', '.cache/**', '.edgeloop/**', 'bench/results/**', 'apps/dashboard/dist/**'],
  },
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.mts'],
    extends: [tseslint.configs.recommended],
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Bugs: kept.
      'no-debugger': 'error',
      'no-dupe-keys': 'error',
      'no-duplicate-case': 'error',
      'no-self-assign': 'error',
      'no-self-compare': 'error',
      'no-unreachable': 'error',
      'no-unsafe-finally': 'error',
      'no-cond-assign': ['error', 'except-parens'],
      'no-sparse-arrays': 'error',
      'no-template-curly-in-string': 'error',
      'use-isnan': 'error',
      'valid-typeof': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { args: 'none', caughtErrors: 'none', ignoreRestSiblings: true, varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Style or deliberate idioms here, not bugs: `{} as never` casts in tests, non-null assertions after
      // a checked lookup, `require()` of optional native modules, empty catch-alls on best-effort cleanup.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-empty-function': 'off',
      '@typescript-eslint/no-empty-object-type': 'off',
      '@typescript-eslint/no-unsafe-function-type': 'off',
    },
  },
  {
    // Tests build sparse arrays and `${…}` text on purpose (canonical JSON, source scanned as text).
    files: TEST_FILES,
    rules: { 'no-sparse-arrays': 'off', 'no-template-curly-in-string': 'off' },
  },
  // Layering. A later block replaces `no-restricted-imports` for the files it matches, so each block lists
  // every pattern that applies to its files.
  {
    files: ['libs/**/*.ts'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': restrict(LIBS_IMPORT_NO_APP, TEST_SUPPORT.harness, TEST_SUPPORT.testing, TEST_SUPPORT.tests) },
  },
  {
    files: ['libs/**/*.spec.ts', 'libs/**/*.int.ts', 'libs/**/testing/**/*.ts', 'libs/harness/**/*.ts'],
    rules: { 'no-restricted-imports': restrict(LIBS_IMPORT_NO_APP) },
  },
  ...APPS.flatMap((app) => [
    {
      files: [`apps/${app}/**/*.ts`, `apps/${app}/**/*.tsx`],
      rules: { 'no-restricted-imports': restrict(otherApps(app)) },
    },
    {
      files: [`apps/${app}/**/*.ts`, `apps/${app}/**/*.tsx`],
      ignores: TEST_FILES,
      rules: { 'no-restricted-imports': restrict(otherApps(app), TEST_SUPPORT.harness, TEST_SUPPORT.testing, TEST_SUPPORT.tests) },
    },
  ]),
);
