// Runs in every test file before it loads: whatever MONGODB_URI says, tests only touch a test database.
import { loadConfig } from '../../src/config/config';
import { assertTestDatabase } from '../../src/adapters/mongo';

const { mongo } = loadConfig();
for (const target of [mongo.tss, mongo.tis, mongo.esr]) assertTestDatabase(target.database);
