/**
 * Opening a MongoDB store. Only what MongoDB and FerretDB (used locally and in tests) both support is
 * used anywhere: no multi-document transactions, no change streams; correctness comes from
 * single-document updates and unique indexes (design.md, "Data").
 */
import { MongoClient, type Collection, type Db, type Document, type Filter, type WithId } from 'mongodb';
import { inTurns } from '../shared/in-turns';
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

/**
 * FerretDB only (findWhereIn): up to how many values equality queries beat one `$in` (2.2 ms per equality
 * query against 237 ms for one `$in` decoding 2,000 profiles, about 100 to 1, whatever the collection's
 * size), and how many are in flight at once.
 */
const FERRETDB_EQUALITY_UP_TO = 100;
const EQUALITY_QUERIES_AT_ONCE = 20;

const ferretDbs = new WeakMap<Db, Promise<boolean>>();

/** Whether the server behind `db` is FerretDB (its buildInfo says so), asked once per Db while the answer is yes or no. */
export function isFerretDb(db: Db): Promise<boolean> {
  let answer = ferretDbs.get(db);
  if (!answer) {
    answer = db
      .admin()
      .command({ buildInfo: 1 })
      .then(
        (info) => 'ferretdbVersion' in info,
        () => {
          ferretDbs.delete(db); // ask again next time; meanwhile the query any server takes
          return false;
        },
      );
    ferretDbs.set(db, answer);
  }
  return answer;
}

/**
 * The documents whose `field` is one of `values`; the caller batches (a thousand or so per call). MongoDB
 * takes an `$in` in one index scan: one query. FerretDB 1.24 pushes only an equality filter down to
 * PostgreSQL (a sequential scan there, cheap per row), and an `$in` makes it read and decode the whole
 * collection itself: so for a few values there it is one equality query each, a few at once, and for many
 * the `$in`, whose one decode of the collection then costs less than their scans.
 */
export async function findWhereIn<T extends Document>(db: Db, collection: Collection<T>, field: string, values: readonly unknown[], projection?: Document): Promise<Array<WithId<T>>> {
  if (values.length === 0) return [];
  const options = projection ? { projection } : {};
  if (values.length <= FERRETDB_EQUALITY_UP_TO && (await isFerretDb(db))) {
    const found = await inTurns(values, EQUALITY_QUERIES_AT_ONCE, (value) => collection.find({ [field]: value } as Filter<T>, options).toArray());
    return found.flat() as Array<WithId<T>>;
  }
  return (await collection.find({ [field]: { $in: values } } as Filter<T>, options).toArray()) as Array<WithId<T>>;
}
