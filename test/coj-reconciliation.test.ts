import type { Client } from '@temporalio/client';
import { TssStore } from '../src/adapters/tss-store';
import { TisStore } from '../src/adapters/tis-store';
import { ensureSchedules, SCHEDULE_IDS, setSchedulePaused } from '../src/client/schedules';
import { startReceivers } from '../src/receivers/run';
import { cojWorkflowId } from '../src/shared/coj';
import { cojReconciliationWorkflow } from '../src/workflows';
import type { Config } from '../src/config/config';
import { pauseSchedule, testConfig, testLogger, withWorker } from './support/system';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook';
import { newSignature, signed, openCojStores, type CojTestStores } from './support/coj';

describe('CoJ reconciliation', () => {
  let webhook: WebhookReceiver;
  let config: Config;
  let stores: CojTestStores;
  let client: Client;
  let tss: TssStore;
  let tis: TisStore;

  beforeAll(async () => {
    webhook = await startWebhookReceiver();
    config = { ...testConfig(), alerts: { webhookUrl: webhook.url } };
    stores = await openCojStores(config);
    ({ client, tss, tis } = stores);
  });
  afterAll(async () => {
    await stores.close();
    await webhook.close();
  });

  it('finds a signed CoJ that never got a workflow, starts its submission, alerts naming it, and it is delivered', async () => {
    const forgotten = await signed(tss, tis, newSignature({ signedAt: new Date(Date.now() - 20 * 60_000).toISOString() }));
    const recent = await signed(tss, tis, newSignature({ signedAt: new Date().toISOString() }));
    const receivers = await startReceivers(config, testLogger(config));
    try {
      await receivers.ready;
      await withWorker(async () => {
        const result = await client.workflow.execute(cojReconciliationWorkflow, {
          taskQueue: config.temporal.taskQueue,
          workflowId: `test-reconciliation-${forgotten.programmeMembershipTisId}`,
          args: [{ olderThanMs: 10 * 60_000 }],
        });
        expect(result.started).toContain(forgotten.programmeMembershipTisId);
        expect(result.started).not.toContain(recent.programmeMembershipTisId);
        await client.workflow.getHandle(cojWorkflowId(forgotten.programmeMembershipTisId)).result();
      }, config);
    } finally {
      await receivers.stop();
    }
    expect((await tss.findCoj(forgotten.programmeMembershipTisId))?.syncedAt).not.toBeNull();
    const alert = webhook.alerts.find((a) => a.tisw.kind === 'coj-unsubmitted');
    expect(alert?.tisw.summary).toContain(forgotten.programmeMembershipTisId);
  });

  it('does not start a second workflow for a CoJ whose submission is already in flight', async () => {
    const inFlight = await signed(tss, tis, newSignature({ signedAt: new Date(Date.now() - 20 * 60_000).toISOString() }));
    await withWorker(async () => {
      const run = (id: string) =>
        client.workflow.execute(cojReconciliationWorkflow, { taskQueue: config.temporal.taskQueue, workflowId: id, args: [{ olderThanMs: 10 * 60_000 }] });
      expect((await run(`test-reconcile-1-${inFlight.programmeMembershipTisId}`)).started).toContain(inFlight.programmeMembershipTisId);
      // No receiver: it is still waiting for TIS when reconciliation runs again.
      expect((await run(`test-reconcile-2-${inFlight.programmeMembershipTisId}`)).started).not.toContain(inFlight.programmeMembershipTisId);
      await client.workflow.getHandle(cojWorkflowId(inFlight.programmeMembershipTisId)).terminate('test done');
    }, config);
  });

  it('creates its schedule once, updates it in place, and keeps an operator\'s pause', async () => {
    expect(await ensureSchedules(client, config)).toContainEqual({ scheduleId: SCHEDULE_IDS.cojReconciliation, outcome: expect.stringMatching(/created|updated/) });
    const handle = client.schedule.getHandle(SCHEDULE_IDS.cojReconciliation);
    await pauseSchedule(client, SCHEDULE_IDS.cojReconciliation, 'operator: investigating');
    expect(await ensureSchedules(client, { ...config, coj: { ...config.coj, reconcileEveryMs: 5 * 60_000 } })).toContainEqual({ scheduleId: SCHEDULE_IDS.cojReconciliation, outcome: 'updated' });
    const description = await handle.describe();
    expect(description.state.paused).toBe(true);
    expect(description.state.note).toBe('operator: investigating');
    expect(description.spec.intervals?.[0]?.every).toBe(5 * 60_000);
    let schedules = 0;
    for await (const s of client.schedule.list()) if (s.scheduleId === SCHEDULE_IDS.cojReconciliation) schedules++;
    expect(schedules).toBe(1);
    await handle.unpause();
  });

  it('keeps a pause sent right after an update (the server applies a waiting pause before a waiting update)', async () => {
    const handle = client.schedule.getHandle(SCHEDULE_IDS.cojReconciliation);
    for (let round = 0; round < 25; round++) {
      await ensureSchedules(client, { ...config, coj: { ...config.coj, reconcileEveryMs: (round + 2) * 60_000 } });
      // A plain pause, as another process or the Temporal UI would send it, with no waiting of ours.
      await handle.pause(`operator: round ${round}`);
      // A describe is a query: the server answers it after the signals waiting before it are applied.
      expect({ round, paused: (await handle.describe()).state.paused }).toEqual({ round, paused: true });
      await setSchedulePaused(handle, false, 'test: next round');
    }
  });
});
