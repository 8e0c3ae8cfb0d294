/**
 * Deliberately broken ESR data exporters, for `tisw conformance esr` to catch (test/conformance-esr.test.ts).
 * Each is a small amqplib consumer on a queue of its own that honours the reply contract in every way but
 * one, and records its files as the reference exporter does (appFiles keyed by commandId, EsrStore's
 * layout), so that the conformance run reads back what it made. Its files hold no records: a conformance
 * run's commands have nothing due.
 *   - second-file-on-repeat: a commandId seen before gets a new file under the next number, recorded in
 *     place of the first (as an exporter that never looks its commands up does);
 *   - sequence-per-deanery: takes its file numbers from a counter per deanery, not the one shared counter,
 *     so that two deaneries' files carry the same number (the store it is given has no unique index on
 *     appFiles.sequence, or the second would fail);
 *   - silent-on-unknown-deanery: takes a command for a deanery it does not know and never answers it;
 *   - dies-on-bad-json: a body that is not JSON kills it (its connection drops, the message unacked, and it
 *     never comes back), as a consumer that lets JSON.parse throw does.
 * None dead-letters anything: what it cannot take gets a "rejected" reply only.
 */
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connectAmqp } from '../../src/adapters/amqp';
import { MAX_MESSAGE_BYTES } from '../../src/adapters/amqp-consumer';
import type { AppFileDocument, EsrStore } from '../../src/adapters/esr-store';
import { APP_FILE_SEQUENCE_COUNTER, appFileName, isDeanery } from '../../src/shared/esr';
import { appFileCommand } from '../../src/shared/messages';

export const ESR_EXPORTER_FAULTS = ['second-file-on-repeat', 'sequence-per-deanery', 'silent-on-unknown-deanery', 'dies-on-bad-json'] as const;
export type EsrExporterFault = (typeof ESR_EXPORTER_FAULTS)[number];

export interface BrokenEsrExporter {
  queue: string;
  /** Whether it has died (dies-on-bad-json after a body that is not JSON). */
  readonly died: boolean;
  stop(): Promise<void>;
}

export async function startBrokenEsrExporter(fault: EsrExporterFault, options: { amqpUrl: string; store: EsrStore }): Promise<BrokenEsrExporter> {
  const { store } = options;
  const queue = `tisw.test.conformance.esr.${fault}.${process.pid}`;
  const connection: ChannelModel = await connectAmqp({ url: options.amqpUrl, connectionName: `broken-esr-exporter-${fault}` });
  const channel: Channel = await connection.createChannel();
  // Not auto-delete: the queue outlives its consumer's death, as a real exporter's does.
  await channel.assertQueue(queue, { durable: false });
  await channel.prefetch(1);
  let died = false;

  const reply = (m: ConsumeMessage, body: object): void => {
    const { replyTo, correlationId } = m.properties as { replyTo?: string; correlationId?: string };
    if (replyTo) channel.sendToQueue(replyTo, Buffer.from(JSON.stringify(body)), { ...(correlationId !== undefined && { correlationId }), contentType: 'application/json' });
  };
  const refuse = (m: ConsumeMessage, reason: string): void => {
    reply(m, { status: 'rejected', reason });
    channel.ack(m);
  };
  const nextSequence = async (deanery: string): Promise<number> => {
    const counter = fault === 'sequence-per-deanery' ? `${APP_FILE_SEQUENCE_COUNTER}.${deanery}` : APP_FILE_SEQUENCE_COUNTER;
    const value = (await store.counters.findOne({ _id: counter }))?.value ?? 0;
    const last = fault === 'sequence-per-deanery' ? 0 : ((await store.appFiles.find({}).sort({ sequence: -1 }).limit(1).next())?.sequence ?? 0);
    const sequence = Math.max(value, last) + 1;
    await store.counters.updateOne({ _id: counter }, { $max: { value: sequence } }, { upsert: true });
    return sequence;
  };

  const handle = async (m: ConsumeMessage): Promise<void> => {
    if (m.content.length > MAX_MESSAGE_BYTES) return refuse(m, 'too big');
    if (m.properties.contentType !== 'application/json') return refuse(m, `content type ${String(m.properties.contentType)}`);
    let body: unknown;
    try {
      body = JSON.parse(m.content.toString('utf8'));
    } catch {
      if (fault !== 'dies-on-bad-json') return refuse(m, 'not JSON');
      died = true;
      await connection.close();
      return;
    }
    const parsed = appFileCommand.safeParse(body);
    if (!parsed.success) return refuse(m, 'not an app-file command');
    const { commandId, deanery, runDate } = parsed.data;
    if (!isDeanery(deanery)) {
      if (fault === 'silent-on-unknown-deanery') return channel.ack(m);
      return refuse(m, `unknown deanery ${deanery}`);
    }
    let file = await store.appFile(commandId);
    if (!file || fault === 'second-file-on-repeat') {
      const sequence = await nextSequence(deanery);
      const now = new Date();
      const made: AppFileDocument = { _id: commandId, deanery, runDate, sequence, fileName: appFileName(deanery, runDate, sequence), status: 'made', startedAt: now, finishedAt: now, recordCount: 0, skipped: [] };
      await store.appFiles.replaceOne({ _id: commandId }, made, { upsert: true });
      file = made;
    }
    reply(m, { status: 'ok', commandId, deanery, fileName: file.fileName, sequence: file.sequence, recordCount: file.recordCount ?? 0, skipped: file.skipped ?? [] });
    channel.ack(m);
  };

  await channel.consume(queue, (m) => {
    if (m) void handle(m);
  });
  return {
    queue,
    get died() {
      return died;
    },
    async stop() {
      if (!died) await connection.close().catch(() => undefined);
      // Its leftovers (the message that killed it) go with the queue.
      const cleanup = await connectAmqp({ url: options.amqpUrl, connectionName: 'broken-esr-exporter-cleanup' });
      const ch = await cleanup.createChannel();
      await ch.deleteQueue(queue);
      await cleanup.close();
    },
  };
}
