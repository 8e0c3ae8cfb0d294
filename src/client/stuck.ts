/**
 * `tisw stuck`: every run that is late, each with why, joined from Temporal and RabbitMQ in one answer.
 * Runs are found through the search attributes (a visibility query on TisStage and start time), never by
 * listing everything; each one's own status query adds attempts and the last failure; the broker adds the
 * state of the queue each waits on. Where the facts point at one cause, it is said in plain words.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Config } from '../config/config';
import { readBrokerState, type BrokerState, type QueueState } from '../adapters/broker-state';
import { QUEUES } from '../shared/amqp';
import { cojStatusQuery, type CojStatus } from '../shared/coj';
import { esrRunStatusQuery, type EsrRunStatus } from '../shared/esr';
import { inTurns } from '../shared/in-turns';

export interface LateRun {
  workflowId: string;
  kind: 'coj' | 'esr';
  stage: string;
  startedAt: string;
  lateByMinutes: number;
  attempts: number | null;
  lastFailure: string | null;
  /** The queue this run waits on, with its state. */
  waitsOn: QueueState | null;
  subject: string;
}

export interface StuckReport {
  late: LateRun[];
  /** Found by the query but not shown (over --limit). */
  more: number;
  broker: BrokerState;
  verdicts: string[];
}

export interface StuckOptions {
  /** A run counts as late when it has been running longer than this. */
  olderThanMs: number;
  limit: number;
}

/** Status queries in flight at once (each a round trip to a worker). */
const STATUS_QUERIES_AT_ONCE = 10;

const WAITED_ON: Record<string, string> = { publishing: QUEUES.cojSigned, 'awaiting-acknowledgement': QUEUES.cojSigned };

export async function findStuck(client: Client, config: Config, options: StuckOptions): Promise<StuckReport> {
  const since = new Date(Date.now() - options.olderThanMs).toISOString();
  const cojQuery = `WorkflowType = 'cojSubmissionWorkflow' AND ExecutionStatus = 'Running' AND TisStage IN ('publishing', 'awaiting-acknowledgement') AND StartTime < '${since}'`;
  const esrQuery = `WorkflowType = 'esrRunWorkflow' AND ExecutionStatus = 'Running' AND StartTime < '${since}'`;
  const broker = await readBrokerState(config.amqp.url, [QUEUES.cojSigned, QUEUES.esrAppFileCommand, QUEUES.acknowledgement], QUEUES.brokerCheck);
  const queue = (name: string | undefined): QueueState | null => broker.queues.find((q) => q.queue === name) ?? null;

  // Listed first, then each run's status query, STATUS_QUERIES_AT_ONCE at a time: a query is a round trip
  // to a worker (a replay where the run is not in its cache), and an outage leaves hundreds of runs late.
  let more = 0;
  const listed = async (query: string, room: number): Promise<WorkflowExecutionInfo[]> => {
    const runs: WorkflowExecutionInfo[] = [];
    for await (const run of client.workflow.list({ query })) {
      if (runs.length < room) runs.push(run);
      else more++;
    }
    return runs;
  };
  const lateEsr = await listed(esrQuery, options.limit);
  const lateCoj = await listed(cojQuery, options.limit - lateEsr.length);

  const esrRuns = await inTurns(lateEsr, STATUS_QUERIES_AT_ONCE, async (run): Promise<LateRun> => {
    const status = await client.workflow
      .getHandle(run.workflowId)
      .query(esrRunStatusQuery)
      .catch((): EsrRunStatus | undefined => undefined);
    // The deanery it is on now (or the first failing one), which is what an operator needs to look at.
    const open = status?.deaneries.filter((d) => d.stage !== 'done') ?? [];
    const current = open.find((d) => d.stage === 'failing') ?? open.find((d) => d.stage !== 'pending') ?? open[0];
    return {
      workflowId: run.workflowId,
      kind: 'esr',
      stage: current?.stage ?? String(run.searchAttributes.TisStage?.[0] ?? 'unknown'),
      startedAt: run.startTime.toISOString(),
      lateByMinutes: Math.round((Date.now() - run.startTime.getTime()) / 60_000),
      attempts: current?.attempts ?? null,
      lastFailure: current?.lastFailure ?? null,
      waitsOn: queue(QUEUES.esrAppFileCommand),
      subject: `ESR run for ${String(run.searchAttributes.TisRunDate?.[0] ?? '?')}${current ? `, deanery ${current.deanery}` : ''}${status ? ` (${status.deaneries.length - open.length} of ${status.deaneries.length} deaneries done${open.some((d) => d.stage === 'failing') ? `; failing: ${open.filter((d) => d.stage === 'failing').map((d) => d.deanery).join(', ')}` : ''})` : ''}`,
    };
  });
  const cojRuns = await inTurns(lateCoj, STATUS_QUERIES_AT_ONCE, async (run): Promise<LateRun> => {
    const stage = String(run.searchAttributes.TisStage?.[0] ?? 'unknown');
    // The status query needs a worker; without one the run is still listed, with what visibility knows.
    const status = await client.workflow
      .getHandle(run.workflowId)
      .query(cojStatusQuery)
      .catch((): CojStatus | undefined => undefined);
    return {
      workflowId: run.workflowId,
      kind: 'coj',
      stage: status?.stage ?? stage,
      startedAt: run.startTime.toISOString(),
      lateByMinutes: Math.round((Date.now() - run.startTime.getTime()) / 60_000),
      attempts: status?.attempts ?? null,
      lastFailure: status?.lastFailure ?? null,
      waitsOn: queue(WAITED_ON[status?.stage ?? stage]),
      subject: `CoJ of programme membership ${String(run.searchAttributes.TisProgrammeMembership?.[0] ?? '?')}`,
    };
  });
  const late = [...esrRuns, ...cojRuns];
  return { late, more, broker, verdicts: verdicts(late, broker, config) };
}

function verdicts(late: LateRun[], broker: BrokerState, config: Config): string[] {
  const out: string[] = [];
  if (!broker.reachable) out.push(`RabbitMQ is unreachable: ${broker.error ?? 'no answer'}`);
  if (broker.blocked) out.push(`broker is blocking publishers: ${broker.blocked}`);
  const coj = broker.queues.find((q) => q.queue === QUEUES.cojSigned);
  if (coj && coj.consumers === 0 && (coj.ready > 0 || late.some((r) => r.kind === 'coj'))) out.push(`no consumer on ${QUEUES.cojSigned}: the TIS receiver is down`);
  const acks = broker.queues.find((q) => q.queue === QUEUES.acknowledgement);
  if (acks && acks.consumers === 0 && (acks.ready > 0 || late.length > 0)) out.push(`no consumer on ${QUEUES.acknowledgement}: no worker is listening for acknowledgements`);
  const esr = broker.queues.find((q) => q.queue === QUEUES.esrAppFileCommand);
  const lateEsr = late.filter((r) => r.kind === 'esr');
  if (esr && esr.consumers === 0 && (esr.ready > 0 || lateEsr.length > 0)) out.push(`no consumer on ${QUEUES.esrAppFileCommand}: the ESR data exporter is down`);
  for (const r of lateEsr.filter((x) => x.stage === 'failing')) out.push(`${r.subject}: ${r.lastFailure ?? 'failing'}`);
  const failing = late.filter((r) => r.kind === 'coj' && r.stage === 'publishing' && r.lastFailure);
  if (failing.length > 0) out.push(`${failing.length} CoJ(s) cannot be published: ${failing[0]?.lastFailure}`);
  const unanswered = late.filter((r) => r.kind === 'coj' && r.stage === 'awaiting-acknowledgement');
  if (unanswered.length > 0 && coj && coj.consumers > 0 && config.coj.acknowledgement === 'synced') {
    const rejections = config.coj.rejectionsQueue
      ? `TIS's sync is down, or TCS fails on them (its rejections would come back through ${config.coj.rejectionsQueue})`
      : 'TCS rejected them, or TIS\'s sync is down (no COJ_REJECTIONS_QUEUE is configured, so a rejection is never seen)';
    out.push(`${unanswered.length} CoJ(s) consumed by TIS, never synced back: ${rejections}`);
  } else if (unanswered.length > 0 && coj && coj.consumers > 0 && (!acks || acks.consumers > 0)) {
    out.push(`${unanswered.length} CoJ(s) published and consumed but not acknowledged: TIS takes them and does not reply (check the receiver's logs)`);
  }
  return out;
}
