/**
 * The one way our processes consume a queue (the reference receivers and the acknowledgement listener):
 * manual acks with a prefetch, a connection that comes back after the broker does, and three outcomes
 * per message that the handler chooses:
 *   - done: the message is acked;
 *   - dead-letter: it can never be processed (malformed, wrong content type): it is copied to
 *     <queue>.dead-letter with the reason in a header (confirmed), then acked;
 *   - reject: rejected without requeue, as TCS rejects what it can never take: the broker drops it, or
 *     dead-letters it where the queue has a dead-letter exchange (a policy), with its properties;
 *   - an exception: a transient failure: the message is not acknowledged but requeued after a pause, so
 *     it comes back (the 2021 incident's lesson: transient failures must be retried, not dropped).
 */
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../config/logger';
import { DEAD_LETTER_REASON_HEADER, deadLetterQueue } from '../shared/amqp';
import { connectAmqp } from './amqp';
import { declareTopology, type QueueSpec } from './amqp-topology';

export type Outcome = { kind: 'done' } | { kind: 'dead-letter'; reason: string } | { kind: 'reject'; reason: string };

export interface ConsumerContext {
  /** Publishes on the consumer's confirm channel and waits for the confirm (e.g. a reply). */
  publish(queue: string, body: unknown, properties: { correlationId?: string; messageId?: string; type?: string }): Promise<void>;
}

interface InternalContext extends ConsumerContext {
  publishRaw(queue: string, message: ConsumeMessage, reason: string): Promise<void>;
}

export interface ConsumerOptions {
  url: string;
  /** A queue of the topology, or one this consumer declares itself (on every connection) with its arguments. */
  queue: string | QueueSpec;
  /** Where dead-lettered messages go. @default <queue>.dead-letter */
  deadLetterQueue?: string;
  connectionName: string;
  prefetch: number;
  log: Logger;
  handle(message: ConsumeMessage, context: ConsumerContext): Promise<Outcome>;
  /** Pause before requeueing a message whose handling failed, so a persistent fault does not spin. @default 1000 */
  requeueDelayMs?: number;
}

export interface Consumer {
  stop(): Promise<void>;
  /** Resolves once the first connection consumes (tests wait for it). */
  ready: Promise<void>;
}

export function startConsumer(options: ConsumerOptions): Consumer {
  const { log } = options;
  const spec = typeof options.queue === 'string' ? undefined : options.queue;
  const queue = typeof options.queue === 'string' ? options.queue : options.queue.name;
  const deadLetterTo = options.deadLetterQueue ?? deadLetterQueue(queue);
  let stopped = false;
  let current: { connection: ChannelModel; channel: ConfirmChannel; tag: string } | undefined;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let wake: () => void = () => undefined;

  const run = async (): Promise<void> => {
    let delayMs = 500;
    while (!stopped) {
      try {
        const connection = await connectAmqp({ url: options.url, connectionName: options.connectionName });
        const closed = new Promise<void>((resolve) => {
          connection.on('close', () => resolve());
          connection.on('error', (err: Error) => log.warn({ err: err.message, queue }, 'consumer connection error'));
        });
        const channel = await connection.createConfirmChannel();
        channel.on('error', (err: Error) => log.warn({ err: err.message, queue }, 'consumer channel error'));
        channel.on('close', () => void connection.close().catch(() => undefined));
        await declareTopology(channel);
        if (spec) await channel.assertQueue(spec.name, spec.options);
        await channel.prefetch(options.prefetch);
        const context = contextFor(channel);
        const { consumerTag } = await channel.consume(queue, (message) => {
          if (message) void deliver(channel, context, message);
        });
        current = { connection, channel, tag: consumerTag };
        delayMs = 500;
        log.info({ queue }, 'consuming');
        markReady();
        await closed;
        current = undefined;
        if (!stopped) log.warn({ queue }, 'consumer connection closed; reconnecting');
      } catch (err) {
        if (!stopped) log.warn({ queue, err: (err as Error).message, retryInMs: delayMs }, 'consumer cannot connect; retrying');
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, delayMs);
      });
      delayMs = Math.min(delayMs * 2, 10_000);
    }
  };

  const deliver = async (channel: Channel, context: InternalContext, message: ConsumeMessage): Promise<void> => {
    let outcome: Outcome;
    try {
      outcome = await options.handle(message, context);
      if (outcome.kind === 'dead-letter') {
        log.warn({ queue, messageId: message.properties.messageId, reason: outcome.reason }, 'dead-lettering a message');
        await context.publishRaw(deadLetterTo, message, outcome.reason);
      }
    } catch (err) {
      log.warn({ queue, messageId: message.properties.messageId, err: (err as Error).message }, 'handling failed; the message will come back');
      await new Promise((r) => setTimeout(r, options.requeueDelayMs ?? 1000));
      try {
        channel.nack(message, false, true);
      } catch {
        // channel gone: the broker requeues unacked messages by itself
      }
      return;
    }
    try {
      if (outcome.kind === 'reject') {
        log.info({ queue, messageId: message.properties.messageId, reason: outcome.reason }, 'rejecting a message without requeue');
        channel.nack(message, false, false);
      } else channel.ack(message);
    } catch {
      // channel gone: the message comes back and is handled again, harmlessly (receivers are idempotent)
    }
  };

  const contextFor = (channel: ConfirmChannel): InternalContext => {
    // A reply whose replyTo names no queue comes back as a basic.return: the work is done and the sender
    // will resend and be answered again, so it is only worth a log line (the confirm still follows).
    channel.on('return', (returned: ConsumeMessage) => {
      log.warn({ queue, replyTo: returned.fields.routingKey, correlationId: returned.properties.correlationId }, 'a reply could not be routed (no such queue): dropped, the sender will resend');
    });
    const confirmed = (q: string, content: Buffer, props: Parameters<ConfirmChannel['publish']>[3]): Promise<void> =>
      new Promise((resolve, reject) => {
        // Every wait for a confirm has a limit (design.md): past it the handler fails and the message comes back.
        const timer = setTimeout(() => reject(new Error(`no confirm for a publish to ${q} within ${CONFIRM_TIMEOUT_MS} ms`)), CONFIRM_TIMEOUT_MS);
        channel.publish('', q, content, { persistent: true, mandatory: true, ...props }, (err: unknown) => {
          clearTimeout(timer);
          if (err) reject(new Error(`publish to ${q} was nacked`));
          else resolve();
        });
      });
    return {
      publish: (q, body, props) => confirmed(q, Buffer.from(JSON.stringify(body)), { contentType: 'application/json', ...props }),
      publishRaw: (q, m, reason) =>
        confirmed(q, m.content, { ...m.properties, headers: { ...m.properties.headers, [DEAD_LETTER_REASON_HEADER]: reason, 'x-tisw-original-queue': queue } }),
    };
  };

  const running = run();
  return {
    ready,
    async stop() {
      stopped = true;
      wake();
      const open = current;
      if (open) {
        await open.channel.cancel(open.tag).catch(() => undefined);
        await open.connection.close().catch(() => undefined);
      }
      await running;
    },
  };
}

/** Parses a JSON message body; undefined when it is not JSON. Content type is checked by the caller. */
export function parseJson(message: ConsumeMessage): unknown {
  try {
    return JSON.parse(message.content.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export const MAX_MESSAGE_BYTES = 256 * 1024;

/** How long a receiver's reply or dead-letter waits for the broker's confirm (a memory alarm holds it back). */
const CONFIRM_TIMEOUT_MS = 10_000;

/**
 * application/json, in any letter case, with at most a UTF-8 charset: senders (e.g. Spring's or .NET's
 * JSON converters) write `application/json; charset=utf-8` for the same message, and refusing it would
 * dead-letter valid messages.
 */
function isJsonContentType(type: string): boolean {
  const [media = '', ...parameters] = type.split(';').map((part) => part.trim().toLowerCase());
  return media === 'application/json' && parameters.every((p) => p === '' || /^charset="?utf-?8"?$/.test(p));
}

/** The checks every consumer makes before looking inside: size, content type, JSON. */
export function readJsonMessage(message: ConsumeMessage): { ok: true; body: unknown } | { ok: false; reason: string } {
  if (message.content.length > MAX_MESSAGE_BYTES) return { ok: false, reason: `message of ${message.content.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit` };
  const type = message.properties.contentType as string | undefined;
  if (type !== undefined && !isJsonContentType(type)) return { ok: false, reason: `content type ${type} is not application/json` };
  const body = parseJson(message);
  if (body === undefined) return { ok: false, reason: 'body is not valid JSON' };
  return { ok: true, body };
}
