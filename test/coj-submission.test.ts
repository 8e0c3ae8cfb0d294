import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { TssStore } from '../src/adapters/tss-store';
import { TisStore } from '../src/adapters/tis-store';
import { cojSettings, cojStatus, submitCoj, type CojSettings } from '../src/client/coj';
import { startReceivers, type Receivers } from '../src/receivers/run';
import { QUEUES } from '../src/shared/amqp';
import { cojWorkflowId, type CojStatus, type CojTimings } from '../src/shared/coj';
import type { Config } from '../src/config/config';
import { runStatuses, runStatusesWhere, testConfig, testLogger, within, withWorker } from './support/system';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook';
import { newSignature, signed, openCojStores, type CojTestStores } from './support/coj';
import { eventually } from '../src/shared/poll';
import { randomUUID } from 'node:crypto';
import { connectAmqp } from '../src/adapters/amqp';
import { WORKER_REPLY_TTL_MS, workerReplyQueue } from '../src/adapters/amqp-topology';

describe('CoJ submission, end to end: TSS -> workflow -> TIS receiver -> acknowledgement -> syncedAt', () => {
  let webhook: WebhookReceiver;
  let config: Config;
  let stores: CojTestStores;
  let client: Client;
  let tss: TssStore;
  let tis: TisStore;
  let timings: CojTimings;

  beforeAll(async () => {
    webhook = await startWebhookReceiver();
    const base = testConfig();
    config = { ...base, alerts: { webhookUrl: webhook.url } };
    timings = { ...cojSettings(config).timings, resendInitialMs: 500, resendMaxMs: 2000 };
    stores = await openCojStores(config);
    ({ client, tss, tis } = stores);
  });
  afterAll(async () => {
    await stores.close();
    await webhook.close();
  });

  const settings = (t: CojTimings): CojSettings => ({ ...cojSettings(config), timings: t });

  /** Runs `fn` with a worker and the reference receivers up. */
  async function withSystem<T>(fn: () => Promise<T>): Promise<T> {
    const receivers: Receivers = await startReceivers(config, testLogger(config));
    await receivers.ready;
    try {
      return await withWorker(fn, config);
    } finally {
      await receivers.stop();
    }
  }

  const result = (programmeMembershipTisId: string): Promise<CojStatus> => client.workflow.getHandle<() => Promise<CojStatus>>(cojWorkflowId(programmeMembershipTisId)).result();

  it('delivers a signed CoJ to TIS once and sets syncedAt in TSS when TIS acknowledges it', async () => {
    const s = await signed(tss, tis, newSignature());
    // The wait in the worker ends at the first resend: a resend interval long enough that a loaded machine
    // (TIS's store on FerretDB, the reply's round trip) does not cut it short and leave the reply to a signal.
    const patient = { ...timings, resendInitialMs: 30_000, resendMaxMs: 60_000 };
    const status = await withSystem(async () => {
      expect(await submitCoj(client, settings(patient), s)).toEqual({ workflowId: cojWorkflowId(s.programmeMembershipTisId), outcome: 'submitted' });
      return result(s.programmeMembershipTisId);
    });
    expect(status).toMatchObject({ stage: 'acknowledged', attempts: 1, lastFailure: null, signedAt: s.signedAt });
    // TIS's reply came back to the publish waiting in the worker, which wrote syncedAt too: no signal, one
    // workflow task, one local activity, no timer.
    const history = await client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).fetchHistory();
    const events = history.events ?? [];
    expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'acknowledgement')).toHaveLength(0);
    expect(events.filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1);
    expect(events.filter((e) => e.markerRecordedEventAttributes)).toHaveLength(1);
    expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(0);
    expect(await tis.findCoj(s.programmeMembershipTisId)).toMatchObject({ version: 'GG10', signedAt: new Date(s.signedAt) });
    const inTss = await tss.findCoj(s.programmeMembershipTisId);
    expect(inTss?.syncedAt).toBe(status.syncedAt);
    expect(inTss?.syncedAt).not.toBeNull();
    // An operator finds it in the Temporal UI by programme membership, trainee and stage.
    const query = `TisProgrammeMembership = '${s.programmeMembershipTisId}' AND TisTrainee = '${s.traineeTisId}' AND TisStage = 'acknowledged'`;
    await eventually('the run in visibility', async () => ((await runStatusesWhere(client, query)).length === 1 ? true : undefined));
  });

  it("takes a reply left in a gone worker's reply queue from the shared acknowledgement queue", async () => {
    const s = await signed(tss, tis, newSignature());
    const patient = { ...timings, resendInitialMs: 120_000, resendMaxMs: 120_000 }; // no resend during the test
    const gone = workerReplyQueue(`gone-${randomUUID()}`);
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test:gone-worker' });
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(gone.name, gone.options);
      await withWorker(async () => {
        // No receiver runs: the CoJ waits on the queue. It asks for the reply in this worker's own queue.
        await submitCoj(client, settings(patient), s);
        const published = await eventually('the published CoJ', async () => {
          const message = await channel.get(QUEUES.cojSigned, { noAck: true }); // leftovers of earlier tests are dropped
          return message && message.properties.correlationId === cojWorkflowId(s.programmeMembershipTisId) ? message : undefined;
        });
        expect(published.properties.replyTo).toMatch(new RegExp(`^${QUEUES.acknowledgement}\\.worker\\.`));
        // TIS's reply lands in the queue of a worker that no longer consumes it: the broker moves it on.
        const reply = { status: 'ok', programmeMembershipTisId: s.programmeMembershipTisId, signedAt: s.signedAt, version: s.version };
        channel.sendToQueue(gone.name, Buffer.from(JSON.stringify(reply)), { correlationId: published.properties.correlationId as string, contentType: 'application/json', persistent: true });
        await channel.waitForConfirms();
        expect(await within(WORKER_REPLY_TTL_MS + 20_000, 'the run acknowledged', result(s.programmeMembershipTisId))).toMatchObject({ stage: 'acknowledged', attempts: 1 });
      }, config);
      expect((await channel.checkQueue(gone.name)).messageCount).toBe(0);
      await channel.deleteQueue(gone.name);
    } finally {
      await connection.close();
    }
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).not.toBeNull();
  });

  it('treats the same signature submitted twice as one workflow, before and after it is delivered', async () => {
    const s = await signed(tss, tis, newSignature());
    await withSystem(async () => {
      const [first, second] = await Promise.all([submitCoj(client, settings(timings), s), submitCoj(client, settings(timings), s)]);
      // Two racing submits both go through signal-with-start; whichever is second joins the first's run.
      expect([first.outcome, second.outcome]).toEqual(['submitted', 'submitted']);
      await result(s.programmeMembershipTisId);
      expect(await submitCoj(client, settings(timings), s)).toMatchObject({ outcome: 'already-submitted' });
    });
    expect(await runStatuses(client, cojWorkflowId(s.programmeMembershipTisId))).toEqual(['COMPLETED']);
  });

  it('ends the run as failed with TIS\'s reason, and alerts, when TIS does not know the programme membership', async () => {
    const s = await signed(tss, undefined, newSignature());
    const failure = await withSystem(async () => {
      await submitCoj(client, settings(timings), s);
      return result(s.programmeMembershipTisId).then(
        () => undefined,
        (err: unknown) => err,
      );
    });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(String((failure as WorkflowFailedError).cause?.message)).toContain(`unknown programme membership ${s.programmeMembershipTisId}`);
    const status = await withWorker(() => cojStatus(client, s.programmeMembershipTisId), config);
    expect(status).toMatchObject({ stage: 'rejected', runStatus: 'FAILED', rejectionReason: `unknown programme membership ${s.programmeMembershipTisId}` });
    expect(webhook.alerts.filter((a) => a.tisw.kind === 'coj-rejected' && a.tisw.summary.includes(s.programmeMembershipTisId))).toHaveLength(1);
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBeNull();
  });

  it('keeps resending while the TIS receiver is down past the SLA, alerts once, and delivers once it is back', async () => {
    const s = await signed(tss, tis, newSignature({ signedAt: new Date().toISOString() }));
    const short = { ...timings, slaMs: 1500, resendInitialMs: 300, resendMaxMs: 600 };
    await withWorker(async () => {
      await submitCoj(client, settings(short), s);
      await eventually('the late alert', async () => webhook.alerts.find((a) => a.tisw.kind === 'coj-late' && a.tisw.summary.includes(s.programmeMembershipTisId)));
      const waiting = await cojStatus(client, s.programmeMembershipTisId);
      expect(waiting.stage).toBe('awaiting-acknowledgement');
      expect(waiting.attempts).toBeGreaterThanOrEqual(2);
      expect(waiting.lateAlertRaisedAt).not.toBeNull();
      // Now TIS comes back: the queued resends are all received, and all but one are duplicates.
      const receivers = await startReceivers(config, testLogger(config));
      try {
        await receivers.ready;
        expect(await result(s.programmeMembershipTisId)).toMatchObject({ stage: 'acknowledged' });
      } finally {
        await receivers.stop();
      }
    }, config);
    const late = webhook.alerts.filter((a) => a.tisw.kind === 'coj-late' && a.tisw.summary.includes(s.programmeMembershipTisId));
    expect(late).toHaveLength(1);
    expect(JSON.stringify(late)).not.toContain(s.traineeTisId); // no personal data in alerts
    expect(await tis.findCojs([s.programmeMembershipTisId])).toHaveLength(1);
    expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).not.toBeNull();
  });

  it('delivers a newer signature in a new run after the older one was delivered', async () => {
    const older = await signed(tss, tis, newSignature({ signedAt: new Date(Date.now() - 60_000).toISOString() }));
    const newer = { ...older, signedAt: new Date(Date.now() - 1000).toISOString(), version: 'GG10' as const };
    await withSystem(async () => {
      await submitCoj(client, settings(timings), older);
      await result(older.programmeMembershipTisId);
      await tss.saveSignature(newer);
      expect(await submitCoj(client, settings(timings), newer)).toMatchObject({ outcome: 'submitted' });
      expect(await result(older.programmeMembershipTisId)).toMatchObject({ stage: 'acknowledged', signedAt: newer.signedAt });
      expect(await submitCoj(client, settings(timings), older)).toMatchObject({ outcome: 'already-submitted' });
    });
    expect(await runStatuses(client, cojWorkflowId(older.programmeMembershipTisId))).toEqual(['COMPLETED', 'COMPLETED']);
    expect(await tis.findCoj(older.programmeMembershipTisId)).toMatchObject({ version: 'GG10' });
  });

  it('lets a newer signature for the same programme membership supersede the one in flight', async () => {
    const older = await signed(tss, tis, newSignature({ signedAt: new Date(Date.now() - 60_000).toISOString(), version: 'GG9' }));
    const newer = { ...older, signedAt: new Date(Date.now() - 1000).toISOString(), version: 'GG10' as const };
    const status = await withWorker(async () => {
      await submitCoj(client, settings(timings), older); // no receiver yet: it waits
      await eventually('the first publish', async () => ((await cojStatus(client, older.programmeMembershipTisId)).attempts > 0 ? true : undefined));
      await tss.saveSignature(newer);
      expect(await submitCoj(client, settings(timings), newer)).toMatchObject({ outcome: 'submitted' });
      const receivers = await startReceivers(config, testLogger(config));
      try {
        await receivers.ready;
        return await result(older.programmeMembershipTisId);
      } finally {
        await receivers.stop();
      }
    }, config);
    expect(status).toMatchObject({ stage: 'acknowledged', signedAt: newer.signedAt, version: 'GG10', superseded: [older.signedAt] });
    expect(await tis.findCoj(older.programmeMembershipTisId)).toMatchObject({ signedAt: new Date(newer.signedAt), version: 'GG10' });
    expect((await tss.findCoj(older.programmeMembershipTisId))?.syncedAt).not.toBeNull();
  });
});
