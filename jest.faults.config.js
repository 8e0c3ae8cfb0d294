/**
 * The fault suite: tests that disturb the machine's shared RabbitMQ as a whole (a memory alarm), so they
 * run after the main suite, one at a time, with nothing else of ours running beside them.
 */
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = { ...base, roots: ['<rootDir>/test/faults'], testPathIgnorePatterns: [], maxWorkers: 1, testTimeout: 120_000 };
