import type { Client } from '@temporalio/client';
import { TssStore } from '../src/adapters/tss-store';
import { TisStore } from '../src/adapters/tis-store';
import { cojSettings, cojStatus, submitCoj, type CojSettings } from '../src/client/coj';
import { startReceivers } from '../src/receivers/run';
import { cojWorkflowId, type CojSignature, type CojStatus } from '../src/shared/coj';
import type { Config } from '../src/config/config';
import { waitFor } from '../src/shared/poll';
import { pollerIdentities } from '../src/adapters/temporal';
import { testConfig, testLogger, withWorker } from './support/system';
import { newSignature, seedSignedCojs, signed, openCojStores, type CojTestStores } from './support/coj';
import { eventually } from '../src/shared/poll';
import { startTcpProxy } from './support/tcp-proxy';
import { startTisw } from './support/processes';

describe('CoJ submission under faults: nothing lost, nothing done twice', () => {
  const config: Config = testConfig();
  let stores: CojTestStores;
  let client: Client;
  let tss: TssStore;
  let tis: TisStore;
  const settings: CojSettings = { ...cojSettings(config), timings: { ...cojSettings(config).timings, resendInitialMs: 500, resendMaxMs: 2000 } };
  const result = (s: CojSignature): Promise<CojStatus> => client.workflow.getHandle<() => Promise<CojStatus>>(cojWorkflowId(s.programmeMembershipTisId)).result();

  beforeAll(async () => {
    stores = await openCojStores(config);
    ({ client, tss, tis } = stores);
  });
  afterAll(async () => {
    await stores.close();
  });

  async function deliveredOnce(signatures: CojSignature[]): Promise<void> {
    const ids = signatures.map((s) => s.programmeMembershipTisId);
    expect(await tis.findCojs(ids)).toHaveLength(ids.length);
    for (const s of signatures) expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).not.toBeNull();
  }

  it('delivers CoJs published while the broker is unreachable, once it is back', async () => {
    const amqp = new URL(config.amqp.url);
    const proxy = await startTcpProxy({ host: amqp.hostname, port: Number(amqp.port || 5672) });
    const viaProxy = new URL(config.amqp.url);
    viaProxy.port = String(proxy.port);
    const workerConfig: Config = { ...config, amqp: { ...config.amqp, url: viaProxy.toString(), confirmTimeoutMs: 2000 } };
    const signatures = await Promise.all([1, 2, 3].map(() => signed(tss, tis, newSignature())));
    const receivers = await startReceivers(config, testLogger(config)); // TIS reaches the broker directly
    try {
      await receivers.ready;
      await withWorker(async () => {
        await proxy.cut(); // the worker has been connected; now its broker goes away
        for (const s of signatures) await submitCoj(client, settings, s);
        // The worker cannot reach the broker: each publish fails, is counted and retried.
        await eventually('failed publishes', async () => {
          const statuses = await Promise.all(signatures.map((s) => cojStatus(client, s.programmeMembershipTisId)));
          return statuses.every((st) => st.stage === 'publishing' && st.attempts >= 2 && st.lastFailure) ? statuses : undefined;
        });
        await proxy.restore();
        for (const s of signatures) expect(await result(s)).toMatchObject({ stage: 'acknowledged' });
      }, workerConfig);
    } finally {
      await receivers.stop();
      await proxy.close();
    }
    await deliveredOnce(signatures);
  });

  it('lets another worker finish the runs of a worker killed while they wait for TIS', async () => {
    const env = { TEMPORAL_TASK_QUEUE: config.temporal.taskQueue };
    const first = startTisw('worker', env);
    let second: ReturnType<typeof startTisw> | undefined;
    try {
      await waitForPollers(client, config, 1);
      const signatures = await Promise.all([1, 2, 3, 4, 5].map(() => signed(tss, tis, newSignature())));
      for (const s of signatures) await submitCoj(client, settings, s);
      // No receiver yet: every run is waiting for TIS's acknowledgement, on the only worker there is.
      await eventually('all runs awaiting acknowledgement', async () => {
        const statuses = await Promise.all(signatures.map((s) => cojStatus(client, s.programmeMembershipTisId)));
        return statuses.every((st) => st.stage === 'awaiting-acknowledgement') ? true : undefined;
      });
      second = startTisw('worker', env);
      await waitForPollers(client, config, 2);
      first.process.kill('SIGKILL');
      const receivers = await startReceivers(config, testLogger(config));
      try {
        await receivers.ready;
        for (const s of signatures) expect(await result(s)).toMatchObject({ stage: 'acknowledged' });
      } finally {
        await receivers.stop();
      }
      await deliveredOnce(signatures);
    } finally {
      await Promise.allSettled([first.stop(), second?.stop()]);
    }
  }, 120_000);

  it('stops a worker gracefully on SIGTERM (exit 0), and another worker finishes its runs', async () => {
    const env = { TEMPORAL_TASK_QUEUE: config.temporal.taskQueue };
    const first = startTisw('worker', env);
    let second: ReturnType<typeof startTisw> | undefined;
    try {
      await waitForPollers(client, config, 1);
      const s = await signed(tss, tis, newSignature());
      await submitCoj(client, settings, s);
      await eventually('the run awaiting acknowledgement', async () => ((await cojStatus(client, s.programmeMembershipTisId)).stage === 'awaiting-acknowledgement' ? true : undefined));
      const exited = new Promise<number | null>((resolve) => first.process.once('exit', (code) => resolve(code)));
      first.process.kill('SIGTERM');
      expect(await exited).toBe(0);
      second = startTisw('worker', env);
      const receivers = await startReceivers(config, testLogger(config));
      try {
        await receivers.ready;
        expect(await result(s)).toMatchObject({ stage: 'acknowledged' });
      } finally {
        await receivers.stop();
      }
      await deliveredOnce([s]);
    } finally {
      await Promise.allSettled([first.stop(), second?.stop()]);
    }
  }, 120_000);

  it('delivers a burst of 1,000 CoJs, each to TIS exactly once, each with syncedAt set', async () => {
    const signatures = await seedSignedCojs(tss, tis, 1000);
    const receivers = await startReceivers(config, testLogger(config));
    try {
      await receivers.ready;
      await withWorker(async () => {
        const queue = [...signatures];
        await Promise.all(Array.from({ length: 50 }, async () => {
          for (let s = queue.pop(); s; s = queue.pop()) await submitCoj(client, settings, s);
        }));
        for (const s of signatures) expect((await result(s)).stage).toBe('acknowledged');
      }, config);
    } finally {
      await receivers.stop();
    }
    const ids = signatures.map((s) => s.programmeMembershipTisId);
    expect(await tis.findCojs(ids)).toHaveLength(1000);
    const unsynced = await tss.profiles.countDocuments({ _id: { $in: signatures.map((s) => s.traineeTisId) }, 'programmeMemberships.conditionsOfJoining.syncedAt': null });
    expect(unsynced).toBe(0);
  }, 300_000);
});

async function waitForPollers(client: Client, config: Config, count: number): Promise<void> {
  await waitFor(
    `${count} worker(s) polling`,
    async () => {
      return (await pollerIdentities(client, config.temporal.namespace, config.temporal.taskQueue)).length >= count;
    },
    60_000,
  );
}

