/**
 * Runs in every worker: consumes the acknowledgement queue as a competing consumer (any worker may take
 * any reply) and hands each reply to the workflow waiting for it, as a signal to the workflow whose id is
 * the reply's correlationId. The AMQP message is acked only once the signal was accepted; while Temporal
 * cannot be reached the reply goes back to the queue. A reply for a workflow that does not exist or has
 * finished is logged and dropped (late and duplicate replies are harmless); a malformed one is
 * dead-lettered with the reason. Nothing a reply contains can crash the listener.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { ConsumeMessage } from 'amqplib';
import type { Logger } from '../config/logger';
import { readJsonMessage, startConsumer, type Consumer } from '../adapters/amqp-consumer';
import { esrFiles, esrRecordsExported, replies } from '../adapters/metrics';
import { acknowledgementSignal, QUEUES, type Acknowledgement } from '../shared/contract';
import { describeIssues, REPLY_SCHEMAS } from '../shared/messages';

export interface ListenerOptions {
  amqpUrl: string;
  client: Client;
  log: Logger;
  connectionName: string;
  /** @default 100 */
  prefetch?: number;
}

/** Workflow ids the listener may signal: those of our workflows that wait for replies; the prefix names the job. */
const CORRELATION_ID = /^(coj|esr)-[\w,.:-]{1,200}$/;
const JOB_NAMES = { coj: 'CoJ', esr: 'ESR' } as const;

export function startAcknowledgementListener(options: ListenerOptions): Consumer {
  const log = options.log.child({ component: 'acknowledgement-listener' });
  return startConsumer({
    url: options.amqpUrl,
    queue: QUEUES.acknowledgement,
    connectionName: options.connectionName,
    prefetch: options.prefetch ?? 100,
    log,
    handle: async (message) => {
      const outcome = await handOver(message, options.client, log);
      const job = /^(coj|esr)-/.exec(String(message.properties.correlationId))?.[1] ?? 'unknown';
      replies.inc({ job, status: outcome.status, result: outcome.result });
      return outcome.kind === 'dead-letter' ? { kind: 'dead-letter', reason: outcome.reason } : { kind: 'done' };
    },
  });
}

type HandOver = ({ kind: 'done'; result: 'handed-over' | 'dropped' } | { kind: 'dead-letter'; reason: string; result: 'dead-lettered' }) & { status: string };

async function handOver(message: ConsumeMessage, client: Client, log: Logger): Promise<HandOver> {
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
  try {
    await client.workflow.getHandle(correlationId).signal(acknowledgementSignal, acknowledgement);
    log.debug({ workflowId: correlationId, status }, 'acknowledgement handed over');
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      log.info({ workflowId: correlationId, status }, 'acknowledgement for a workflow that does not exist or has finished: dropped');
      return { kind: 'done', result: 'dropped', status };
    }
    throw err; // Temporal unreachable or overloaded: requeue, it comes back
  }
  if (status === 'ok' && correlationId.startsWith('esr-')) {
    // An app file the exporter made (a duplicate reply counts again: the run ignores it, the rate is what matters here).
    const deanery = typeof rest.deanery === 'string' ? rest.deanery : 'unknown';
    esrFiles.inc({ deanery });
    if (typeof rest.recordCount === 'number') esrRecordsExported.inc({ deanery }, rest.recordCount);
  }
  return { kind: 'done', result: 'handed-over', status };
}
