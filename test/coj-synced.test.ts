/**
 * Synced mode (COJ_ACKNOWLEDGEMENT=synced), TIS as it runs today: the receiver stores the CoJ and sends
 * no reply; what acknowledges a signature is TSS's profile showing it synced back by TIS (same signedAt,
 * syncedAt set), seen by the cluster's one sync watcher, or TIS's COJ_RECEIVED event where TIS forwards
 * it; TCS's rejections come back through the dead-letter queue of its queue. Most cases here play TIS's
 * sync back onto the profile themselves (syncBack), to control when and what it syncs; the first and the
 * last run the reference TIS sync (src/receivers/tis-sync.ts), as `tisw up` does.
 */
import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import type { TssStore } from '../src/adapters/tss-store';
import type { TisStore } from '../src/adapters/tis-store';
import { connectAmqp } from '../src/adapters/amqp';
import { cojSettings, cojStatus, submitCoj, type CojSettings } from '../src/client/coj';
import { ensureMonitor, ensureSyncWatcher } from '../src/client/monitor';
import { startConfiguredTisSync } from '../src/receivers/tis-sync';
import { randomUUID } from 'node:crypto';
import { startReceivers } from '../src/receivers/run';
import { COJ_SYNC_WATCHER_WORKFLOW_ID, cojWorkflowId, type CojSignature, type CojStatus } from '../src/shared/coj';
import { waitFor } from '../src/shared/poll';
import type { Config } from '../src/config/config';
import { runStatuses, testConfig, testLogger, withWorker } from './support/system';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook';
import { newSignature, openCojStores, signed, syncBack as syncBackInTss, type CojTestStores } from './support/coj';

describe('CoJ submission in synced mode: acknowledged by TIS syncing it back to TSS, no reply', () => {
  let webhook: WebhookReceiver;
  let config: Config;
  let stores: CojTestStores;
  let client: Client;
  let tss: TssStore;
  let tis: TisStore;
  let settings: CojSettings;

  beforeAll(async () => {
    webhook = await startWebhookReceiver();
    const base = testConfig();
    // No wait in the worker (COJ_SYNC_WAIT_SECONDS=0) but in the test of that path: these test the watcher and TIS's queues.
    config = { ...base, alerts: { webhookUrl: webhook.url }, coj: { ...base.coj, acknowledgement: 'synced', syncWatchIntervalMs: 300, syncWaitMs: 0 }, local: { ...base.local, tisSyncLagMs: 0 } };
    expect(config.coj.rejectionsQueue).toBeDefined(); // the harness plays TIS's dead-letter policy
    settings = { ...cojSettings(config), timings: { ...cojSettings(config).timings, resendInitialMs: 1000, resendMaxMs: 2000 } };
    stores = await openCojStores(config);
    ({ client, tss, tis } = stores);
  });
  afterAll(async () => {
    await client.workflow.getHandle(COJ_SYNC_WATCHER_WORKFLOW_ID).terminate('test over').catch(() => undefined);
    await stores.close();
    await webhook.close();
  });

  /**
   * A worker (with the tis-events listener), the watcher and the reference receivers, as the cluster runs
   * them; `tisSync` false: without the reference TIS sync, the test syncing back itself.
   */
  async function withSystem<T>(fn: () => Promise<T>, { tisSync = false, syncWaitMs = 0 }: { tisSync?: boolean; syncWaitMs?: number } = {}): Promise<T> {
    const receivers = await startReceivers(config, testLogger(config), { tisSync });
    await receivers.ready;
    try {
      return await withWorker(
        async () => {
          await ensureSyncWatcher(client, config);
          return fn();
        },
        { ...config, coj: { ...config.coj, syncWaitMs } },
      );
    } finally {
      await receivers.stop();
    }
  }

  const syncBack = (s: CojSignature, at?: Date): Promise<Date> => syncBackInTss(tss, s, at);

  const result = (s: CojSignature): Promise<CojStatus> => client.workflow.getHandle<() => Promise<CojStatus>>(cojWorkflowId(s.programmeMembershipTisId)).result();
  const statusOf = (s: CojSignature): Promise<CojStatus> => cojStatus(client, s.programmeMembershipTisId);
  const storedByTis = async (s: CojSignature): Promise<void> => {
    await waitFor('TCS to store the CoJ', async () => (await tis.findCoj(s.programmeMembershipTisId))?.signedAt.getTime() === Date.parse(s.signedAt), 20_000);
  };

  it('end to end as TIS runs: TCS stores it, TIS\'s sync copies it back onto the profile, the watcher sees it', async () => {
    const s = await signed(tss, tis, newSignature());
    const status = await withSystem(async () => {
      // A resend interval longer than the sync's lag and the watcher's interval: the happy path publishes once.
      await submitCoj(client, { ...settings, timings: { ...settings.timings, resendInitialMs: 30_000, resendMaxMs: 30_000 } }, s);
      return result(s);
    }, { tisSync: true });
    expect(status).toMatchObject({ stage: 'acknowledged', acknowledgementMode: 'synced', acknowledgement: 'synced', attempts: 1 });
    const inTss = await tss.findCoj(s.programmeMembershipTisId);
    expect(inTss).toMatchObject({ signedAt: s.signedAt, syncedAt: status.syncedAt });
    expect(inTss?.syncedAt).not.toBeNull();
  });

  it('TIS\'s sync down past the SLA: one coj-late per CoJ and one coj-sync-stalled, then all synced once it is back, each once', async () => {
    const monitorId = `test-monitor-${randomUUID()}`;
    const late: Config = { ...config, coj: { ...config.coj, slaMs: 2000, syncStalledAfterMs: 2000 }, monitor: { intervalMs: 300, idleAfterMs: 1000, ackBacklog: 100 } };
    const lateSettings = { ...cojSettings(late), timings: { ...cojSettings(late).timings, resendInitialMs: 1000, resendMaxMs: 2000 } };
    const cojs = await Promise.all(Array.from({ length: 5 }, () => signed(tss, tis, newSignature())));
    const before = webhook.alerts.length;
    const alerts = (kind: string): WebhookReceiver['alerts'] => webhook.alerts.slice(before).filter((a) => a.tisw.kind === kind && !a.tisw.resolved);
    const latePerCoj = (s: CojSignature): number => alerts('coj-late').filter((a) => a.tisw.details?.programmeMembershipTisId === s.programmeMembershipTisId).length;
    const receivers = await startReceivers(late, testLogger(late), { tisSync: false });
    await receivers.ready;
    try {
      await withWorker(async () => {
        await ensureSyncWatcher(client, late);
        await ensureMonitor(client, late, monitorId);
        try {
          for (const s of cojs) await submitCoj(client, lateSettings, s);
          await waitFor('a coj-late for each CoJ, and coj-sync-stalled', async () => cojs.every((s) => latePerCoj(s) === 1) && alerts('coj-sync-stalled').length === 1, 30_000);
          await new Promise((r) => setTimeout(r, 1500)); // more resends and monitor checks: no second alert
          expect(cojs.map(latePerCoj)).toEqual([1, 1, 1, 1, 1]);
          expect(alerts('coj-sync-stalled')).toHaveLength(1);

          // TIS's sync comes back: every CoJ is synced and acknowledged, and the stall ends.
          const sync = await startConfiguredTisSync(late, testLogger(late));
          try {
            await sync.ready;
            const statuses = await Promise.all(cojs.map(result));
            expect(statuses.map((st) => [st.stage, st.acknowledgement, st.lateAlertRaisedAt !== null])).toEqual(cojs.map(() => ['acknowledged', 'synced', true]));
            await waitFor('the coj-sync-stalled resolved notice', async () => webhook.alerts.slice(before).some((a) => a.tisw.kind === 'coj-sync-stalled' && a.tisw.resolved === true), 30_000);
          } finally {
            await sync.stop();
          }
        } finally {
          await client.workflow.getHandle(monitorId).terminate('test done');
        }
      }, late);
    } finally {
      await receivers.stop();
    }
    for (const s of cojs) expect(await tis.programmeMemberships.countDocuments({ _id: s.programmeMembershipTisId })).toBe(1);
    expect(cojs.map(latePerCoj)).toEqual([1, 1, 1, 1, 1]);
  });

  it('publishes without asking for a reply, waits, and is acknowledged once TSS shows the signature synced', async () => {
    const s = await signed(tss, tis, newSignature());
    await withSystem(async () => {
      await submitCoj(client, settings, s);
      await storedByTis(s);
      // TCS stored it and sent nothing back: the run waits, in stage awaiting-acknowledgement.
      await waitFor('the run to wait', async () => (await statusOf(s)).stage === 'awaiting-acknowledgement', 20_000);
      expect(await statusOf(s)).toMatchObject({ stage: 'awaiting-acknowledgement', acknowledgementMode: 'synced', acknowledgement: null });
      const syncedAt = await syncBack(s);
      const status = await result(s);
      expect(status).toMatchObject({ stage: 'acknowledged', acknowledgementMode: 'synced', acknowledgement: 'synced', syncedAt: syncedAt.toISOString() });
    });
    // Nothing of ours wrote the profile: syncedAt is the one TIS's sync wrote.
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBe((await result(s)).syncedAt);
  });

  it('takes a quick sync in the worker, while the first publish waits: one workflow task, no signal', async () => {
    const s = await signed(tss, tis, newSignature());
    const quick = { ...settings, timings: { ...settings.timings, resendInitialMs: 30_000, resendMaxMs: 60_000 } }; // the wait may last its 5 s
    let syncedAt: Date | undefined;
    const status = await withSystem(
      async () => {
        await submitCoj(client, quick, s);
        await storedByTis(s);
        syncedAt = await syncBack(s);
        return result(s);
      },
      { syncWaitMs: 5000 },
    );
    expect(status).toMatchObject({ stage: 'acknowledged', acknowledgement: 'synced', attempts: 1, syncedAt: syncedAt?.toISOString() });
    const events = (await client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).fetchHistory()).events ?? [];
    expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'acknowledgement')).toHaveLength(0);
    expect(events.filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1);
    const stagesShown = events.flatMap((e) => {
      const stage = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.TisStage?.data;
      return stage ? [JSON.parse(Buffer.from(stage).toString()) as string] : [];
    });
    expect(stagesShown).toEqual(['acknowledged']); // never shown waiting
  });

  it('resends while the sync lags past the resend interval, and TIS stores the CoJ once', async () => {
    const s = await signed(tss, tis, newSignature());
    const status = await withSystem(async () => {
      await submitCoj(client, settings, s);
      await storedByTis(s);
      await waitFor('a resend', async () => (await statusOf(s)).attempts >= 2, 20_000);
      await syncBack(s);
      return result(s);
    });
    expect(status).toMatchObject({ stage: 'acknowledged', acknowledgement: 'synced' });
    expect(status.attempts).toBeGreaterThanOrEqual(2);
    expect(await tis.programmeMemberships.countDocuments({ _id: s.programmeMembershipTisId })).toBe(1);
  });

  it('matches on signedAt: a re-sign is not acknowledged by the earlier signature synced, and is once its own is, with the earlier syncedAt', async () => {
    const first = await signed(tss, tis, newSignature({ signedAt: new Date(Date.now() - 60_000).toISOString() }));
    const earlierSyncedAt = await syncBack(first, new Date(Date.now() - 30_000));
    const resigned: CojSignature = { ...first, signedAt: new Date(Date.now() - 1000).toISOString() };
    const status = await withSystem(async () => {
      // The profile still shows the earlier signature synced (with syncedAt alone, this would pass for the new one).
      await submitCoj(client, settings, resigned);
      await storedByTis(resigned);
      const watched = await watcherRounds();
      await waitFor('three watcher rounds', async () => (await watcherRounds()) >= watched + 3, 20_000);
      expect(await statusOf(resigned)).toMatchObject({ stage: 'awaiting-acknowledgement', signedAt: resigned.signedAt, acknowledgement: null });
      // TIS syncs the new signature back, keeping the earlier syncedAt.
      expect(await syncBack(resigned)).toEqual(earlierSyncedAt);
      return result(resigned);
    });
    expect(status).toMatchObject({ stage: 'acknowledged', signedAt: resigned.signedAt, acknowledgement: 'synced', syncedAt: earlierSyncedAt.toISOString() });
  });

  it('ends rejected, with an alert, when TCS rejects the CoJ without requeue and its queue dead-letters it', async () => {
    const s = await signed(tss, undefined, newSignature()); // a programme membership TIS does not know
    const before = webhook.alerts.length;
    await withSystem(async () => {
      await submitCoj(client, settings, s);
      const failure = await result(s).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
    });
    expect(await runStatuses(client, cojWorkflowId(s.programmeMembershipTisId))).toEqual(['FAILED']);
    const alert = webhook.alerts.slice(before).find((a) => a.tisw.kind === 'coj-rejected' && a.tisw.details?.programmeMembershipTisId === s.programmeMembershipTisId);
    expect(alert?.tisw.summary).toMatch(/TCS rejected the CoJ without requeue \(dead-lettered from trainee\.queue\.coj\.signed\.tcs\)/);
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBeNull();
  });

  it('takes COJ_RECEIVED and the store both delivering as one acknowledgement', async () => {
    const s = await signed(tss, tis, newSignature());
    const status = await withSystem(async () => {
      await submitCoj(client, settings, s);
      await storedByTis(s);
      const syncedAt = await syncBack(s);
      await publishCojReceived(s, syncedAt);
      const done = await result(s);
      // Both sources keep delivering for a while after: nothing changes, nothing fails.
      await publishCojReceived(s, syncedAt);
      const watched = await watcherRounds();
      await waitFor('two watcher rounds', async () => (await watcherRounds()) >= watched + 2, 20_000);
      return done;
    });
    expect(status).toMatchObject({ stage: 'acknowledged', acknowledgement: 'synced' });
    expect(await runStatuses(client, cojWorkflowId(s.programmeMembershipTisId))).toEqual(['COMPLETED']);
    const history = await client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).fetchHistory();
    const acknowledgements = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'acknowledgement');
    expect(acknowledgements.length).toBeGreaterThanOrEqual(1);
    expect(await amqpDepth(config.coj.receivedQueue as string)).toBe(0);
  });

  /** Rounds the watcher has completed: its activity completions, counted in its history. */
  async function watcherRounds(): Promise<number> {
    const history = await client.workflow.getHandle(COJ_SYNC_WATCHER_WORKFLOW_ID).fetchHistory();
    return (history.events ?? []).filter((e) => e.activityTaskCompletedEventAttributes).length;
  }

  async function publishCojReceived(s: CojSignature, syncedAt: Date): Promise<void> {
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-tis' });
    try {
      const channel = await connection.createConfirmChannel();
      const body = { event: 'COJ_RECEIVED', traineeTisId: s.traineeTisId, programmeMembershipTisId: s.programmeMembershipTisId, conditionsOfJoining: { signedAt: s.signedAt, version: s.version, syncedAt: syncedAt.toISOString() } };
      channel.sendToQueue(config.coj.receivedQueue as string, Buffer.from(JSON.stringify(body)), { contentType: 'application/json', persistent: true });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
  }

  async function amqpDepth(queue: string): Promise<number> {
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test-depth' });
    try {
      return (await (await connection.createChannel()).checkQueue(queue)).messageCount;
    } finally {
      await connection.close();
    }
  }

  it('is acknowledged by COJ_RECEIVED alone, before the store shows the sync', async () => {
    const s = await signed(tss, tis, newSignature());
    const syncedAt = new Date();
    const status = await withSystem(async () => {
      await submitCoj(client, settings, s);
      await storedByTis(s);
      await publishCojReceived(s, syncedAt);
      return result(s);
    });
    expect(status).toMatchObject({ stage: 'acknowledged', acknowledgement: 'synced', syncedAt: syncedAt.toISOString() });
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBeNull(); // the store was never synced here, nor written by us
  });
});
