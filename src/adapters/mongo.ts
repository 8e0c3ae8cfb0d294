/**
 * Opening a MongoDB store. Only what MongoDB and FerretDB (used locally and in tests) both support is
 * used anywhere: no multi-document transactions, no change streams; correctness comes from
 * single-document updates and unique indexes (design.md, "Data").
 */
import { MongoClient, type Db } from 'mongodb';
import type { MongoTarget } from '../config/config';
import { NotATestDatabaseError } from '../shared/errors';

export interface MongoStore {
  client: MongoClient;
  db: Db;
  close(): Promise<void>;
}

export async function openMongo(target: MongoTarget, appName: string): Promise<MongoStore> {
  const client = new MongoClient(target.uri, { appName, serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return { client, db: client.db(target.database), close: () => client.close() };
}

/** Test code calls this before touching a database: a name without "test" in it is refused. */
export function assertTestDatabase(database: string): void {
  if (!/test/i.test(database)) {
    throw new NotATestDatabaseError(`refusing to run tests against database "${database}": its name must contain "test"`);
  }
}
