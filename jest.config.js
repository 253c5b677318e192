'use strict';
/** One Jest run: unit specs next to the code, integration specs, and whole-loop tests in e2e/. */
const aliases = {
  '^@edgeloop/contracts$': '<rootDir>/libs/contracts/src/index.ts',
  '^@edgeloop/vision$': '<rootDir>/libs/vision/src/index.ts',
  '^@edgeloop/harness$': '<rootDir>/libs/harness/src/index.ts',
  '^@edgeloop/binaries$': '<rootDir>/libs/binaries/src/binaries.ts',
  '^@edgeloop/embedded$': '<rootDir>/libs/embedded/src/index.ts',
  '^@edgeloop/embedded/broker$': '<rootDir>/libs/embedded/src/broker.ts',
  '^@edgeloop/config$': '<rootDir>/libs/config/src/index.ts',
  '^@edgeloop/client$': '<rootDir>/libs/client/src/index.ts',
  '^@edgeloop/drift$': '<rootDir>/libs/drift/src/index.ts',
  '^@edgeloop/training$': '<rootDir>/libs/training/src/index.ts',
  '^@edgeloop/training/testing$': '<rootDir>/libs/training/src/testing/index.ts',
};
const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)s$': ['@swc/jest'] },
  moduleNameMapper: aliases,
  moduleFileExtensions: ['ts', 'js', 'json'],
};
module.exports = {
  testTimeout: 60000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/{apps,libs}/**/*.int.ts', '<rootDir>/e2e/**/*.e2e.ts', '<rootDir>/deploy/**/*.int.ts'] },
  ],
};
