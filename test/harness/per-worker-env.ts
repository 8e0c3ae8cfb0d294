// Runs in every test file before it loads.
import { loadConfig } from '../../src/config/config';
import { assertTestDatabase } from '../support/test-database';

// This jest worker's own vhost, Temporal namespace, task queue and database (see global-setup.ts).
for (const name of ['AMQP_URL', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'MONGODB_URI']) {
  process.env[name] = process.env[name]?.replace('{worker}', process.env.JEST_WORKER_ID ?? '1');
}

// Whatever MONGODB_URI says, tests only touch a test database.
const { mongo } = loadConfig();
for (const target of [mongo.tss, mongo.tis, mongo.esr]) assertTestDatabase(target.database);
