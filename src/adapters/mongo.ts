/**
 * Opening a MongoDB store. Only what MongoDB and FerretDB (used locally and in tests) both support is
 * used anywhere: no multi-document transactions, no change streams; correctness comes from
 * single-document updates and unique indexes (design.md, "Data").
 */
import { MongoClient, type Collection, type Db } from 'mongodb';
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

/**
 * An index a store's reads or writes rely on, with why: stated once beside the store, created only by the
 * store's owner (or its local stand-in), and reported by `tisw health` where it is missing.
 */
export interface IndexSpec {
  key: Record<string, 1 | -1>;
  unique?: boolean;
  name?: string;
  /** What it serves, for `tisw health` to say why a missing one matters. */
  why: string;
}

/** Whether the collection has an index on exactly these keys, in this order (unique where the spec says so). */
export async function hasIndex(db: Db, collection: string, spec: IndexSpec): Promise<boolean> {
  const indexes = await db.collection(collection).listIndexes().toArray().catch(() => []);
  const wanted = JSON.stringify(Object.entries(spec.key));
  return indexes.some((i) => JSON.stringify(Object.entries(i.key as object)) === wanted && (!spec.unique || i.unique === true));
}

/** The mongosh command that creates it, for an operator to run against the store's database. */
export function createIndexCommand(collection: string, spec: IndexSpec): string {
  const keys = Object.entries(spec.key).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${v}`).join(', ');
  const options = [spec.unique && 'unique: true', spec.name && `name: ${JSON.stringify(spec.name)}`].filter(Boolean).join(', ');
  return `db.getCollection(${JSON.stringify(collection)}).createIndex({ ${keys} }${options ? `, { ${options} }` : ''})`;
}

/** Creates these indexes (idempotent): for a store's owner, or its local stand-in, only. */
export async function createIndexes(collection: Pick<Collection, 'createIndex'>, specs: readonly IndexSpec[]): Promise<void> {
  for (const { key, unique, name } of specs) await collection.createIndex(key, { ...(unique && { unique }), ...(name && { name }) });
}
