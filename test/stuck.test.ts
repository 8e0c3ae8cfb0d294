import type { Client } from '@temporalio/client';
import { TssStore } from '../src/adapters/tss-store';
import { TisStore } from '../src/adapters/tis-store';
import { cojSettings, cojStatus, submitCoj } from '../src/client/coj';
import { findStuck } from '../src/client/stuck';
import { startReceivers } from '../src/receivers/run';
import { randomUUID } from 'node:crypto';
import { QUEUES } from '../src/shared/amqp';
import { cojWorkflowId } from '../src/shared/coj';
import { DEFAULT_ESR_TIMINGS } from '../src/shared/esr';
import { esrRunWorkflow } from '../src/workflows';
import { testConfig, testLogger, withWorker } from './support/system';
import { newSignature, signed, openCojStores, type CojTestStores } from './support/coj';
import { eventually } from '../src/shared/poll';

describe('tisw stuck', () => {
  const config = testConfig();
  let stores: CojTestStores;
  let client: Client;
  let tss: TssStore;
  let tis: TisStore;

  beforeAll(async () => {
    stores = await openCojStores(config);
    ({ client, tss, tis } = stores);
  });
  afterAll(async () => {
    await stores.close();
  });

  it('says plainly, in synced mode, that TIS consumed a CoJ and never synced it back', async () => {
    // No rejections queue configured: a TCS rejection would be invisible, so the verdict names both causes.
    const coj = { ...config.coj, acknowledgement: 'synced' as const };
    delete coj.rejectionsQueue;
    const synced = { ...config, coj };
    const s = await signed(tss, tis, newSignature());
    const workflowId = cojWorkflowId(s.programmeMembershipTisId);
    const receivers = await startReceivers(synced, testLogger(synced), { tisSync: false });
    try {
      await receivers.ready;
      await withWorker(async () => {
        await submitCoj(client, { ...cojSettings(synced), timings: { slaMs: 60_000, resendInitialMs: 300, resendMaxMs: 600 } }, s);
        const report = await eventually('the run in visibility, waiting', async () => {
          const r = await findStuck(client, synced, { olderThanMs: 0, limit: 1000 });
          return r.late.some((l) => l.workflowId === workflowId && l.stage === 'awaiting-acknowledgement') ? r : undefined;
        });
        expect(report.verdicts).toContainEqual(expect.stringMatching(/^\d+ CoJ\(s\) consumed by TIS, never synced back: TCS rejected them, or TIS's sync is down/));
        expect(report.verdicts.join('\n')).not.toMatch(/does not reply/);
      }, synced);
    } finally {
      await receivers.stop();
      await client.workflow.getHandle(workflowId).terminate('test done').catch(() => undefined);
    }
  });

  it('names a CoJ waiting on TIS, with its attempts and queue, and says the TIS receiver is down', async () => {
    const s = await signed(tss, tis, newSignature());
    const workflowId = cojWorkflowId(s.programmeMembershipTisId);
    await withWorker(async () => {
      await submitCoj(client, { ...cojSettings(config), timings: { slaMs: 60_000, resendInitialMs: 300, resendMaxMs: 600 } }, s);
      await eventually('a resend', async () => ((await cojStatus(client, s.programmeMembershipTisId)).attempts >= 2 ? true : undefined));
      const report = await eventually('the run in visibility', async () => {
        const r = await findStuck(client, config, { olderThanMs: 0, limit: 1000 });
        return r.late.some((l) => l.workflowId === workflowId) ? r : undefined;
      });
      expect(report.late.find((l) => l.workflowId === workflowId)).toMatchObject({
        stage: 'awaiting-acknowledgement',
        attempts: expect.any(Number),
        lastFailure: null,
        waitsOn: { queue: QUEUES.cojSigned, consumers: 0, ready: expect.any(Number) },
        subject: `CoJ of programme membership ${s.programmeMembershipTisId}`,
      });
      expect(report.verdicts).toContain(`no consumer on ${QUEUES.cojSigned}: the TIS receiver is down`);
      expect(report.broker).toMatchObject({ reachable: true });
      expect(report.broker.blocked).toBeUndefined();

      // With TIS back, it is delivered and no longer stuck.
      const receivers = await startReceivers(config, testLogger(config));
      try {
        await receivers.ready;
        await client.workflow.getHandle(workflowId).result();
      } finally {
        await receivers.stop();
      }
      await eventually('the run to leave the stuck list', async () => {
        const r = await findStuck(client, config, { olderThanMs: 0, limit: 1000 });
        return r.late.some((l) => l.workflowId === workflowId) ? undefined : true;
      });
    }, config);
  });

  it('names an ESR run waiting on the exporter, with its deanery and attempts, and says the exporter is down', async () => {
    const workflowId = `esr-run-stuck-test-${randomUUID()}`;
    await withWorker(async () => {
      await client.workflow.start(esrRunWorkflow, {
        taskQueue: config.temporal.taskQueue,
        workflowId,
        args: [{ requestId: workflowId, runDate: '2099-03-01', deaneries: ['SEV'], timings: { ...DEFAULT_ESR_TIMINGS, resendInitialMs: 300, resendMaxMs: 600 } }],
      });
      try {
        const report = await eventually('the ESR run in the stuck list', async () => {
          const r = await findStuck(client, config, { olderThanMs: 0, limit: 1000 });
          const run = r.late.find((l) => l.workflowId === workflowId);
          return run && (run.attempts ?? 0) >= 2 ? r : undefined;
        });
        expect(report.late.find((l) => l.workflowId === workflowId)).toMatchObject({
          kind: 'esr',
          stage: expect.stringMatching(/publishing|awaiting-acknowledgement/),
          lastFailure: expect.stringMatching(/no acknowledgement from the exporter/),
          waitsOn: { queue: QUEUES.esrAppFileCommand, consumers: 0 },
          subject: expect.stringMatching(/^ESR run for 2099-03-01, deanery SEV \(0 of 1 deaneries done\)/),
        });
        expect(report.verdicts).toContain(`no consumer on ${QUEUES.esrAppFileCommand}: the ESR data exporter is down`);
      } finally {
        await client.workflow.getHandle(workflowId).terminate('test done');
      }
    }, config);
  });

  it('does not count a run as late before the threshold', async () => {
    const report = await findStuck(client, config, { olderThanMs: 24 * 60 * 60_000, limit: 10 });
    expect(report.late).toEqual([]);
  });
});
