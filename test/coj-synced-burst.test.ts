/**
 * A burst in synced mode, as TIS runs: 1,000 signed CoJs submitted at once, each stored by the reference
 * receiver (TCS), copied back onto TSS's profile by the reference TIS sync with no lag, and seen synced by
 * the publishes waiting in the worker (WorkerSyncs) or, past their wait, by the one sync watcher. Each must
 * be acknowledged once: one completed run, one CoJ in TIS's store, the syncedAt the run reports being the
 * profile's, and TIS's sync having handled each once.
 */
import type { Client } from '@temporalio/client';
import type { TssStore } from '../src/adapters/tss-store';
import type { TisStore } from '../src/adapters/tis-store';
import { cojSettings, submitCoj } from '../src/client/coj';
import { ensureSyncWatcher } from '../src/client/monitor';
import { startReceivers } from '../src/receivers/run';
import { COJ_SYNC_WATCHER_WORKFLOW_ID, cojWorkflowId, type CojSignature, type CojStatus } from '../src/shared/coj';
import type { Config } from '../src/config/config';
import { pool } from '../bench/measure';
import { runStatusesWhere, testConfig, testLogger, within, withWorker } from './support/system';
import { openCojStores, seedSignedCojs, type CojTestStores } from './support/coj';

const COUNT = 1000;

describe('a burst of 1,000 CoJs in synced mode', () => {
  let config: Config;
  let stores: CojTestStores;
  let client: Client;
  let tss: TssStore;
  let tis: TisStore;

  beforeAll(async () => {
    const base = testConfig();
    config = { ...base, coj: { ...base.coj, acknowledgement: 'synced', syncWatchIntervalMs: 1000 }, local: { ...base.local, tisSyncLagMs: 0 } };
    stores = await openCojStores(config);
    ({ client, tss, tis } = stores);
  });
  afterAll(async () => {
    await client.workflow.getHandle(COJ_SYNC_WATCHER_WORKFLOW_ID).terminate('test over').catch(() => undefined);
    await stores.close();
  });

  it('acknowledges each once', async () => {
    const signatures = await seedSignedCojs(tss, tis, COUNT);
    const result = (s: CojSignature): Promise<CojStatus> => client.workflow.getHandle<() => Promise<CojStatus>>(cojWorkflowId(s.programmeMembershipTisId)).result();
    const receivers = await startReceivers(config, testLogger(config));
    await receivers.ready;
    let statuses: CojStatus[];
    try {
      statuses = await withWorker(async () => {
        await ensureSyncWatcher(client, config);
        await pool(COUNT, 50, (i) => submitCoj(client, cojSettings(config), signatures[i] as CojSignature));
        return within(300_000, 'every run of the burst', Promise.all(signatures.map(result)));
      }, config);
    } finally {
      await receivers.stop();
    }

    expect(statuses.filter((st) => st.stage === 'acknowledged' && st.acknowledgement === 'synced')).toHaveLength(COUNT);
    const ids = signatures.map((s) => s.programmeMembershipTisId);
    // One CoJ each in TIS's store, and each profile shows the syncedAt its run reports.
    expect(await tis.findCojs(ids)).toHaveLength(COUNT);
    const inTss = new Map((await tss.cojsOfTrainees(signatures.map((s) => s.traineeTisId))).map((c) => [c.programmeMembershipTisId, c.syncedAt]));
    expect(statuses.filter((st) => st.syncedAt !== null && inTss.get(st.programmeMembershipTisId) === st.syncedAt)).toHaveLength(COUNT);
    // TIS's sync handled each once (its record per programme membership).
    expect((await tis.syncedCojsOf(ids)).size).toBe(COUNT);
    // One run each: none started twice.
    const query = `WorkflowType = 'cojSubmissionWorkflow' AND TisProgrammeMembership IN (${ids.slice(0, 100).map((id) => `'${id}'`).join(',')})`;
    expect(await runStatusesWhere(client, query)).toHaveLength(100);
  }, 360_000);
});
