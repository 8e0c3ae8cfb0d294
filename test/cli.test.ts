import { randomUUID } from 'node:crypto';
import { pauseSchedule, testClient, testConfig, testLogger, withWorker } from './support/system';
import { tisw } from './support/processes';
import { startReceivers } from '../src/receivers/run';
import { ensureSchedules } from '../src/client/schedules';

describe('the tisw command line', () => {
  const config = testConfig();

  it('shows help for every command and exits 0', async () => {
    for (const args of [['--help'], ['coj', 'submit', '--help'], ['coj', 'status', '--help'], ['health', '--help'], ['bench', 'floor', '--help'], ['bench', 'sync-watch', '--help']]) {
      const { code, stdout } = await tisw(args);
      expect({ args, code }).toEqual({ args, code: 0 });
      expect(stdout).toMatch(/Usage: tisw/);
    }
  });

  it('exits 1 with the variable named, and no secret shown, on a wrong configuration', async () => {
    const { code, stderr } = await tisw(['health'], { AMQP_URL: 'http://svc:hunter2@mq:5672' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/configuration: AMQP_URL must start with amqp:\/\/ or amqps:\/\//);
    expect(stderr).not.toContain('hunter2');
  });

  it('submits a CoJ, then reports where it is as JSON', async () => {
    const pm = randomUUID();
    const submitted = await tisw(['coj', 'submit', '--programme-membership', pm, '--trainee', '4711', '--signed-at', new Date().toISOString(), '--version', 'GG10', '--json']);
    expect(submitted.code).toBe(0);
    expect(JSON.parse(submitted.stdout)).toEqual({ workflowId: `coj-${pm}`, outcome: 'submitted' });
    await withWorker(async () => {
      const status = await tisw(['coj', 'status', pm, '--json']);
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ programmeMembershipTisId: pm, stage: expect.stringMatching(/publishing|awaiting-acknowledgement/), attempts: expect.any(Number), lastFailure: null, syncedAt: null });
    }, config);
    const client = await testClient(config);
    await client.workflow.getHandle(`coj-${pm}`).terminate('cli test: done with it').finally(() => client.connection.close());
    expect((await tisw(['coj', 'status', randomUUID()])).code).toBe(1);
  });

  it('describes, pauses and unpauses both schedules, as JSON', async () => {
    // The default interval (the harness sets reconciliation to once a day for every other file).
    const defaults = { COJ_RECONCILE_EVERY_MINUTES: '2' };
    const esr = JSON.parse((await tisw(['schedule', 'describe', '--json'], defaults)).stdout) as { scheduleId: string; cron: string[] };
    expect(esr).toMatchObject({ scheduleId: 'esr-daily-app-files', cron: ['0 13 * * *'] });
    const paused = await tisw(['schedule', 'pause', '--reconciliation', '--json'], defaults);
    expect(paused.code).toBe(0);
    expect(JSON.parse(paused.stdout)).toMatchObject({ scheduleId: 'tisw-coj-reconciliation', paused: true, cron: ['every 2 min'] });
    const unpaused = JSON.parse((await tisw(['schedule', 'unpause', '--reconciliation', '--json'], defaults)).stdout) as { paused: boolean };
    expect(unpaused.paused).toBe(false);
  });

  it('reports health as JSON, exit 1 while no worker polls and 0 when one does', async () => {
    const without = await tisw(['health', '--json'], { TEMPORAL_TASK_QUEUE: `never-polled-${randomUUID()}` });
    expect(without.code).toBe(1);
    expect(JSON.parse(without.stdout).checks).toContainEqual(expect.objectContaining({ name: 'temporal.workers', ok: false }));
    expect(JSON.parse(without.stdout).checks).toContainEqual(expect.objectContaining({ name: 'temporal.watchers', ok: false }));
    // Everything up: a worker, the receivers on their queues, the schedules present and active.
    const client = await testClient(config);
    const receivers = await startReceivers(config, testLogger(config));
    try {
      await receivers.ready;
      for (const { scheduleId } of await ensureSchedules(client, config)) await client.schedule.getHandle(scheduleId).unpause();
      await withWorker(async () => {
        const withOne = await tisw(['health', '--json']);
        const report = JSON.parse(withOne.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
        expect(report.checks.filter((c) => !c.ok)).toEqual([]);
        expect(report.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['temporal.watchers', 'temporal.schedule.tisw-coj-reconciliation', 'temporal.schedule.esr-daily-app-files', 'rabbitmq.queue.trainee.queue.coj.signed.tcs', 'mongodb.esr']));
        expect(withOne.code).toBe(0);
      }, config);
      // An operator's pause shows, and fails the check, with the note.
      await pauseSchedule(client, 'tisw-coj-reconciliation', 'operator: maintenance');
      const paused = await tisw(['health']);
      expect(paused.code).toBe(1);
      expect(paused.stdout).toMatch(/FAIL\s+temporal\.schedule\.tisw-coj-reconciliation\s+PAUSED: operator: maintenance/);
      await client.schedule.getHandle('tisw-coj-reconciliation').unpause();
    } finally {
      await receivers.stop();
      await client.connection.close();
    }
  });
});
