/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The fault suite runs on its own, after this one (jest.faults.config.js).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/faults/'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  globalSetup: '<rootDir>/test/harness/global-setup.ts',
  globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
  setupFiles: ['<rootDir>/test/harness/per-worker-env.ts'],
  setupFilesAfterEnv: ['<rootDir>/test/harness/no-runs-left.ts'],
  reporters: ['default', '<rootDir>/test/harness/summary-reporter.js'],
  testTimeout: 60_000,
  // Two cores: more parallel files only make the shared servers slower.
  maxWorkers: 2,
};
