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

/** Test support: the embedded servers, fixtures, specs and integration tests. */
const TEST_SUPPORT = {
  harness: {
    group: ['@edgeloop/harness', '@edgeloop/harness/**'],
    message: 'Production code may not import the test harness (only tests, e2e/, bench/ and the CLI start command run embedded servers).',
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
  {
    files: ['apps/**/*.ts', 'apps/**/*.tsx'],
    ignores: TEST_FILES,
    rules: { 'no-restricted-imports': restrict(TEST_SUPPORT.harness, TEST_SUPPORT.testing, TEST_SUPPORT.tests) },
  },
  {
    // The CLI's `start` runs the embedded stack (redis-server, an S3-protocol server) on purpose: that is
    // the embedded mode, not test code.
    files: ['apps/cli/commands/start.ts'],
    rules: { 'no-restricted-imports': restrict(TEST_SUPPORT.testing, TEST_SUPPORT.tests) },
  },
  {
    // Exception until the "cloud as feature modules" issue moves the embedded MQTT broker out of the test
    // harness into a lib of its own: the cloud's MQTT endpoint starts it in embedded mode.
    files: ['apps/cloud/src/mqtt/mqtt-endpoint.ts'],
    rules: { 'no-restricted-imports': restrict(TEST_SUPPORT.testing, TEST_SUPPORT.tests) },
  },
);
