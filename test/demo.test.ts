import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../src/config/config';
import { openMongo } from '../src/adapters/mongo';
import { TssStore } from '../src/adapters/tss-store';
import { cojStatus } from '../src/client/coj';
import { startReceivers, type Receivers } from '../src/receivers/run';
import { DEMO_MARKER, nonLocalMongoUris, seedDemo, type DemoResult } from '../src/local/demo';
import { DEANERIES, ESR_LANE_WORKFLOW_ID, type EsrRunStatus } from '../src/shared/esr';
import { testClient, testLogger, withWorker } from './support/system';
import { eventually } from '../src/shared/poll';
import { isolatedEsr, uniqueRunDate, type IsolatedEsr } from './support/esr';

/** The demo's work on a task queue of this file's own, with an ESR store, vhost and files directory of its own. */
const TASK_QUEUE = `tis-workflows-demo-test-${process.pid}`;

describe('the demo `tisw up` seeds on an empty data directory', () => {
  let esr: IsolatedEsr;
  let config: Config;
  let client: Client;
  let receivers: Receivers;
  const dataDirs: string[] = [];
  const newDataDir = (): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tisw-demo-data-'));
    dataDirs.push(dir);
    return dir;
  };
  const said: string[] = [];
  const say = (line: string): void => void said.push(line);

  beforeAll(async () => {
    esr = await isolatedEsr('demo');
    config = loadConfig({ ...esr.env, TISW_DATA_DIR: newDataDir(), TEMPORAL_TASK_QUEUE: TASK_QUEUE });
    client = await testClient(config);
    receivers = await startReceivers(config, testLogger(config));
    await receivers.ready;
  });
  afterAll(async () => {
    await stopOurLane();
    await receivers.stop();
    await client.connection.close();
    await esr.close();
    for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The lane has one fixed id per namespace: wait for another test file's lane (another task queue) to go before using it. */
  async function laneOnOtherQueue(): Promise<boolean> {
    try {
      const d = await client.workflow.getHandle(ESR_LANE_WORKFLOW_ID).describe();
      return d.status.name === 'RUNNING' && d.taskQueue !== TASK_QUEUE;
    } catch {
      return false;
    }
  }
  async function stopOurLane(): Promise<void> {
    const lane = client.workflow.getHandle(ESR_LANE_WORKFLOW_ID);
    const d = await lane.describe().catch(() => undefined);
    if (d?.status.name === 'RUNNING' && d.taskQueue === TASK_QUEUE) await lane.terminate('demo test done').catch(() => undefined);
  }

  let seeded: Extract<DemoResult, { outcome: 'seeded' }> | undefined;

  it('its CoJs end acknowledged (the one TIS does not know rejected) and its ESR run makes 13 files, due records EXPORTED and the rest left alone', async () => {
    await eventually('no other test file\'s ESR lane running', async () => ((await laneOnOtherQueue()) ? undefined : true), 240_000);
    const runDate = uniqueRunDate();
    const { status, cojs } = await withWorker(async () => {
      const result = await seedDemo(config, client, { say, runDate, uiUrl: 'http://127.0.0.1:8233' });
      if (result.outcome !== 'seeded') throw new Error(`expected the demo to be seeded, got ${JSON.stringify(result)}`);
      seeded = result;
      const run = (await client.workflow.getHandle(result.esrRequestWorkflowId).result()) as EsrRunStatus;
      const stages = await Promise.all(
        result.cojs.map((c) =>
          eventually(
            `CoJ ${c.programmeMembershipTisId} settled`,
            async () => {
              const s = await cojStatus(client, c.programmeMembershipTisId);
              return s.stage === 'acknowledged' || s.stage === 'rejected' ? { knownToTis: c.knownToTis, stage: s.stage, pm: c.programmeMembershipTisId } : undefined;
            },
            60_000,
          ),
        ),
      );
      await stopOurLane();
      return { status: run, cojs: stages };
    }, config);

    expect(cojs.filter((c) => c.knownToTis).map((c) => c.stage)).toEqual(['acknowledged', 'acknowledged', 'acknowledged']);
    expect(cojs.filter((c) => !c.knownToTis).map((c) => c.stage)).toEqual(['rejected']);
    const tss = await openMongo(config.mongo.tss, 'test');
    try {
      const store = new TssStore(tss.db, config.mongo.tssProfilesCollection);
      const synced = await Promise.all(cojs.map(async (c) => (await store.findCoj(c.pm))?.syncedAt !== null));
      expect(synced).toEqual(cojs.map((c) => c.knownToTis));
    } finally {
      await tss.close();
    }

    expect(status.runDate).toBe(runDate);
    expect(status.deaneries.map((d) => [d.deanery, d.stage, d.files.length])).toEqual(DEANERIES.map((d) => [d, 'done', 1]));
    const files = status.deaneries.flatMap((d) => d.files);
    expect(files.reduce((n, f) => n + f.recordCount, 0)).toBe(seeded?.records.due.length);
    expect(fs.readdirSync(config.esr.filesDir).sort()).toEqual(files.map((f) => f.fileName).sort());
    expect(await esr.store.records.countDocuments({ _id: { $in: seeded?.records.due ?? [] }, status: 'EXPORTED' })).toBe(seeded?.records.due.length);
    expect(seeded?.records.notDue.length).toBeGreaterThan(0);
    expect(await esr.store.records.countDocuments({ _id: { $in: seeded?.records.notDue ?? [] }, status: 'TO_EXPORT' })).toBe(seeded?.records.notDue.length);
    expect(fs.existsSync(path.join(config.local.dataDir, DEMO_MARKER))).toBe(true);
    expect(said.join('\n')).toContain(`TisRunDate%3D%22${runDate}%22`);
  }, 300_000);

  it('a second seeding of the same data directory writes and starts nothing', async () => {
    expect(seeded).toBeDefined();
    const records = await esr.store.records.countDocuments({});
    const second = await seedDemo(config, client, { say });
    expect(second).toEqual({ outcome: 'already-seeded', markerFile: path.join(config.local.dataDir, DEMO_MARKER) });
    expect(await esr.store.records.countDocuments({})).toBe(records);
  });

  it('refuses, writing nothing, when any MongoDB URI names another machine', async () => {
    const base = loadConfig(esr.env);
    const localTss = base.mongo.tss.uri.replace(/\/[^/?]*(\?|$)/, `/${base.mongo.tss.database}_demo_refused_test$1`);
    const refusedConfig = loadConfig({ ...esr.env, TISW_DATA_DIR: newDataDir(), TSS_MONGODB_URI: localTss, TIS_MONGODB_URI: 'mongodb://tis-db.example.org:27017/tisw_test' });
    const records = await esr.store.records.countDocuments({});

    const result = await seedDemo(refusedConfig, client, { say });

    expect(result.outcome).toBe('refused');
    expect(result.outcome === 'refused' && result.reason).toMatch(/TIS_MONGODB_URI names tis-db\.example\.org/);
    expect(fs.existsSync(path.join(refusedConfig.local.dataDir, DEMO_MARKER))).toBe(false);
    expect(await esr.store.records.countDocuments({})).toBe(records);
    const tss = await openMongo(refusedConfig.mongo.tss, 'test');
    try {
      expect(await tss.db.collection(refusedConfig.mongo.tssProfilesCollection).countDocuments({})).toBe(0);
      await tss.db.dropDatabase().catch(() => undefined);
    } finally {
      await tss.close();
    }
  });

  it('takes only 127.0.0.1, localhost and ::1 as local hosts, for every host of every URI', () => {
    const withUris = (tis: string): Config => loadConfig({ ...esr.env, TIS_MONGODB_URI: tis });
    expect(nonLocalMongoUris(withUris('mongodb://u:p@localhost:27017,127.0.0.1,[::1]:27018/tisw_test'))).toEqual([]);
    expect(nonLocalMongoUris(withUris('mongodb://127.0.0.1:27017,db2.internal:27017/tisw_test'))).toEqual(['TIS_MONGODB_URI names db2.internal']);
    expect(nonLocalMongoUris(withUris('mongodb+srv://localhost/tisw_test'))).toEqual(['TIS_MONGODB_URI names localhost']);
    expect(nonLocalMongoUris(withUris('mongodb://127.0.0.1.example.org/tisw_test'))).toEqual(['TIS_MONGODB_URI names 127.0.0.1.example.org']);
  });
});
