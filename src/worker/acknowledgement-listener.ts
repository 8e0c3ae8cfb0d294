/**
 * Runs in every worker: consumes the shared acknowledgement queue as a competing consumer (any worker may
 * take any reply) and this worker's own reply queue (WorkerReplies), and hands each reply to the workflow
 * waiting for it: to its publish still waiting in this process when there is one, else as a signal to the
 * workflow whose id is the reply's correlationId. The AMQP message is acked only once the hand-over
 * succeeded; while Temporal cannot be reached the reply goes back to the queue. (A reply handed over in the
 * process is lost if the worker dies before the run's workflow task completes; the run then resends, and
 * TIS answers again.) A reply for a workflow that does not exist or has finished is logged and dropped
 * (late and duplicate replies are harmless); a malformed one is dead-lettered with the reason. Nothing a
 * reply contains can crash the listener.
 */
import type { Client } from '@temporalio/client';
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from '../config/logger';
import { readJsonMessage, startConsumer, type Consumer } from '../adapters/amqp-consumer';
import { esrAppFilesTotal, esrRecordsExportedTotal, repliesTotal } from '../adapters/metrics';
import type { QueueSpec } from '../adapters/amqp-topology';
import { signalAcknowledgement } from '../adapters/temporal';
import { deadLetterQueue, QUEUES, type Acknowledgement } from '../shared/amqp';
import type { WorkerReplies } from './worker-replies';
import { describeIssues, REPLY_SCHEMAS } from '../shared/messages';

export interface ListenerOptions {
  amqpUrl: string;
  client: Client;
  log: Logger;
  connectionName: string;
  /** This worker's own reply queue and the publishes waiting on it; without it only the shared queue is consumed. */
  workerReplies?: WorkerReplies | undefined;
  /** @default 100 */
  prefetch?: number;
}

/** Workflow ids the listener may signal: those of our workflows that wait for replies; the prefix names the job. */
const CORRELATION_ID = /^(coj|esr)-[\w,.:-]{1,200}$/;
const JOB_NAMES = { coj: 'CoJ', esr: 'ESR' } as const;

export function startAcknowledgementListener(options: ListenerOptions): Consumer {
  const log = options.log.child({ component: 'acknowledgement-listener' });
  const consume = (queue: string | QueueSpec, connectionName: string): Consumer =>
    startConsumer({
      url: options.amqpUrl,
      queue,
      // Malformed replies from either queue end in one place, the shared queue's dead-letter queue.
      deadLetterQueue: deadLetterQueue(QUEUES.acknowledgement),
      connectionName,
      prefetch: options.prefetch ?? 100,
      log,
      handle: async (message) => {
        const outcome = await handOver(message, options, log);
        const job = /^(coj|esr)-/.exec(String(message.properties.correlationId))?.[1] ?? 'unknown';
        repliesTotal.inc({ job, status: outcome.status, result: outcome.result });
        return outcome.kind === 'dead-letter' ? { kind: 'dead-letter', reason: outcome.reason } : { kind: 'done' };
      },
    });
  const shared = consume(QUEUES.acknowledgement, options.connectionName);
  const own = options.workerReplies && consume(options.workerReplies.queueSpec, `${options.connectionName}:own`);
  const ownReady = own?.ready.then(() => options.workerReplies?.markListening());
  return {
    ready: Promise.all([shared.ready, ownReady]).then(() => undefined),
    async stop() {
      await Promise.all([shared.stop(), own?.stop()]);
    },
  };
}

type HandOver = ({ kind: 'done'; result: 'handed-over' | 'handed-over-in-process' | 'dropped' } | { kind: 'dead-letter'; reason: string; result: 'dead-lettered' }) & { status: string };

async function handOver(message: ConsumeMessage, { client, workerReplies }: ListenerOptions, log: Logger): Promise<HandOver> {
  const dead = (reason: string): HandOver => ({ kind: 'dead-letter', reason, result: 'dead-lettered', status: 'malformed' });
  const correlationId = message.properties.correlationId as string | undefined;
  const job = correlationId === undefined ? undefined : (CORRELATION_ID.exec(correlationId)?.[1] as keyof typeof REPLY_SCHEMAS | undefined);
  if (!correlationId || !job) return dead(`correlationId ${JSON.stringify(correlationId ?? null)} names no workflow of ours`);
  const read = readJsonMessage(message);
  if (!read.ok) return dead(read.reason);
  // Checked against the job's own reply shape: a workflow takes an "ok" as done (an ESR run as the deanery's file).
  const parsed = REPLY_SCHEMAS[job].safeParse(read.body);
  if (!parsed.success) return dead(`malformed ${JOB_NAMES[job]} reply: ${describeIssues(parsed.error)}`);

  const { status, ...rest } = parsed.data as { status: 'ok' | 'rejected'; reason?: string } & Record<string, unknown>;
  const acknowledgement: Acknowledgement =
    status === 'ok' ? { status, result: rest } : { status, reason: String(rest.reason), result: rest };
  if (workerReplies?.offer(correlationId, acknowledgement)) return { kind: 'done', result: 'handed-over-in-process', status };
  // Temporal unreachable or overloaded: this throws, and the reply is requeued and comes back.
  if (!(await signalAcknowledgement(client, correlationId, acknowledgement))) {
    log.info({ workflowId: correlationId, status }, 'acknowledgement for a workflow that does not exist or has finished: dropped');
    return { kind: 'done', result: 'dropped', status };
  }
  log.debug({ workflowId: correlationId, status }, 'acknowledgement handed over');
  if (status === 'ok' && correlationId.startsWith('esr-')) {
    // An app file the exporter made (a duplicate reply counts again: the run ignores it, the rate is what matters here).
    const deanery = typeof rest.deanery === 'string' ? rest.deanery : 'unknown';
    esrAppFilesTotal.inc({ deanery });
    if (typeof rest.recordCount === 'number') esrRecordsExportedTotal.inc({ deanery }, rest.recordCount);
  }
  return { kind: 'done', result: 'handed-over', status };
}
