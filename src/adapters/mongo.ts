/**
 * Opening a MongoDB store. Only what MongoDB and FerretDB (used locally and in tests) both support is
 * used anywhere: no multi-document transactions, no change streams; correctness comes from
 * single-document updates and unique indexes (design.md, "Data").
 */
import { MongoClient, type Db } from 'mongodb';
import type { MongoTarget } from '../config/config';

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
