/**
 * The fault suite (test/faults/): each file breaks servers on purpose, on a private RabbitMQ node of its
 * own (never the machine's broker) and, for the fault table, a whole throwaway system. They run after the
 * main suite rather than beside it, one file at a time: not for the broker any more, but because the
 * table keeps three workers and a 500-CoJ burst busy on a 2-core machine, which would slow the main
 * suite's timing-sensitive tests and make the table's recovery times measure the other suite.
 */
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = { ...base, roots: ['<rootDir>/test/faults'], testPathIgnorePatterns: [], maxWorkers: 1, testTimeout: 120_000 };
