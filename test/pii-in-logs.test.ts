import { randomInt, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../src/config/config';
import { spawnTisw, type Child } from '../src/local/child';
import { cojSettings, submitCoj } from '../src/client/coj';
import { cojWorkflowId, type CojStatus } from '../src/shared/coj';
import { DEFAULT_ESR_TIMINGS, esrRunWorkflowId, type EsrRunStatus } from '../src/shared/esr';
import { esrRunWorkflow } from '../src/workflows';
import { openCojStores, newSignature, signed, type CojTestStores } from './support/coj';
import { isolatedEsr, seedRecords, uniqueRunDate, type IsolatedEsr } from './support/esr';

/**
 * Personal data stays out of the logs (issue 7): a worker and the reference receivers, as processes at
 * LOG_LEVEL=debug (the most they ever say), carry a CoJ and an ESR app file through; no line of what they
 * printed holds the trainee id or an applicant's names or GMC number. (Ids that are not personal, the
 * programme membership and record ids, may appear: they are what an operator looks things up by.)
 */
describe('personal data in log lines', () => {
  let esr: IsolatedEsr;
  let stores: CojTestStores;
  let client: Client;
  const printed: string[] = [];
  const children: Child[] = [];

  beforeAll(async () => {
    esr = await isolatedEsr('pii', { cojStores: true });
  });
  afterAll(async () => {
    await Promise.allSettled(children.map((c) => c.stop()));
    await stores?.close();
    await esr.close();
  });

  it('never holds a trainee id, an applicant name or a GMC number, at the debug level', async () => {
    const taskQueue = `tis-workflows-pii-${process.pid}`;
    const env = { ...esr.env, TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'debug', TISW_METRICS_PORT: '0' };
    const config = loadConfig(env);
    stores = await openCojStores(config);
    ({ client } = stores);
    for (const command of ['worker', 'receivers']) children.push(spawnTisw(command, { echo: false, env, onLine: (line) => printed.push(line) }));

    const signature = await signed(stores.tss, stores.tis, newSignature({ traineeTisId: String(randomInt(10 ** 9, 10 ** 10)) }));
    await submitCoj(client, cojSettings(config), signature);
    const coj = await client.workflow.getHandle<() => Promise<CojStatus>>(cojWorkflowId(signature.programmeMembershipTisId)).result();
    expect(coj.stage).toBe('acknowledged');

    const runDate = uniqueRunDate();
    const { due } = await seedRecords(esr.store, 'KSS', runDate, { due: 2 });
    const records = await esr.store.records.find({ _id: { $in: due } }).toArray();
    const requestId = `pii-${randomUUID().slice(0, 8)}`;
    const run = await client.workflow.execute(esrRunWorkflow, { taskQueue, workflowId: esrRunWorkflowId({ runDate, requestId }), args: [{ requestId, runDate, deaneries: ['KSS'], timings: DEFAULT_ESR_TIMINGS }] });
    expect((run as EsrRunStatus).deaneries.find((d) => d.deanery === 'KSS')?.files.map((f) => f.recordCount)).toEqual([2]);

    await Promise.all(children.map((c) => c.stop()));
    // The processes did talk (at debug, about these very runs), so silence cannot pass the test.
    expect(printed.join('\n')).toContain(signature.programmeMembershipTisId);
    const personal = [signature.traineeTisId, ...records.flatMap((r) => [r.applicant?.surname, r.applicant?.gmcNumber].filter((v): v is string => Boolean(v)))];
    for (const value of personal) expect(printed.filter((line) => line.includes(value))).toEqual([]);
  });
});
