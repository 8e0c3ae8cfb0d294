import { loadConfig, type Config } from '../src/config/config';
import { openMongo, type MongoStore } from '../src/adapters/mongo';
import { checkHealth, type Check } from '../src/client/health';
import { ESR_COLLECTIONS } from '../src/shared/esr';
import { assertTestDatabase } from './support/test-database';
import { withWorker } from './support/system';

/**
 * TSS's and the exporter's databases are not ours: tis-workflows creates no index in them. `tisw health`
 * says which index our reads rely on is missing, why it matters and how to create it, as a warning.
 */
describe('indexes in the stores we do not own', () => {
  const base = loadConfig();
  // A profiles collection and an ESR database nobody has indexed, for this file alone.
  const collection = `TraineeProfile_unindexed_${process.pid}`;
  const esrDatabase = `${base.mongo.esr.database}_unindexed_${process.pid}`;
  assertTestDatabase(esrDatabase);
  const config: Config = loadConfig({
    ...process.env,
    TSS_PROFILES_COLLECTION: collection,
    ESR_MONGODB_URI: base.mongo.esr.uri.replace(/\/[^/?]*(\?|$)/, `/${esrDatabase}$1`),
  });
  let tss: MongoStore;
  let esr: MongoStore;

  beforeAll(async () => {
    tss = await openMongo(config.mongo.tss, 'test');
    esr = await openMongo(config.mongo.esr, 'test');
  });
  afterAll(async () => {
    await tss.db.collection(collection).drop().catch(() => undefined);
    await esr.db.dropDatabase().catch(() => undefined);
    await tss.close();
    await esr.close();
  });

  const indexNames = async (store: MongoStore, name: string): Promise<string[]> =>
    (await store.db.collection(name).listIndexes().toArray().catch(() => [])).map((i) => String(i.name)).filter((n) => n !== '_id_');
  const traineeTisIdCheck = (checks: Check[]): Check | undefined => checks.find((c) => c.name === `mongodb.index.${config.mongo.tss.database}.${collection}.traineeTisId`);

  it('a worker starts and runs without creating any index in TSS\'s or the exporter\'s store', async () => {
    await tss.db.collection(collection).insertOne({ _id: 'x', traineeTisId: '1', version: 0, programmeMemberships: [] } as never); // the collection exists, as TSS's does
    await withWorker(async () => undefined, config);
    expect(await indexNames(tss, collection)).toEqual([]);
    for (const name of Object.values(ESR_COLLECTIONS)) expect({ name, indexes: await indexNames(esr, name) }).toEqual({ name, indexes: [] });
  });

  it("reports TSS's missing traineeTisId index as a warning, with why and the mongosh command; once created the warning is gone", async () => {
    const report = await checkHealth(config);
    const warning = traineeTisIdCheck(report.checks);

    expect(warning).toMatchObject({ ok: true, warning: true });
    expect(warning?.detail).toContain('missing (unique): ');
    expect(warning?.detail).toContain('look profiles up by traineeTisId');
    expect(warning?.detail).toContain(
      `Create it with: mongosh "${config.mongo.tss.uri.replace(/\?.*$/, '')}" --eval 'db.getCollection("${collection}").createIndex({ traineeTisId: 1 }, { unique: true })'`,
    );
    expect(report.checks.find((c) => c.name === 'mongodb.tss')).toMatchObject({ ok: true, detail: expect.stringContaining('1 index(es) its reads rely on missing') });
    // The exporter's store: the index of the run's due-record check is among those reported.
    expect(report.checks.find((c) => c.name === `mongodb.index.${esrDatabase}.${ESR_COLLECTIONS.generatedAppRecords}.deanery_status_placementStartDate`)).toMatchObject({
      ok: true,
      warning: true,
      detail: expect.stringContaining(`db.getCollection("${ESR_COLLECTIONS.generatedAppRecords}").createIndex({ deanery: 1, status: 1, placementStartDate: 1 }, { name: "due_records" })`),
    });

    await tss.db.collection(collection).createIndex({ traineeTisId: 1 }, { unique: true }); // what the command does

    const after = await checkHealth(config);
    expect(traineeTisIdCheck(after.checks)).toBeUndefined();
    expect(after.checks.find((c) => c.name === 'mongodb.tss')).toMatchObject({ ok: true, detail: expect.stringContaining('the indexes its reads rely on present') });
  });
});
