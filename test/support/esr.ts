/**
 * What the ESR tests share: an ESR store, a broker vhost and a files directory of the test file's own
 * (the file sequence is one counter per store and the command queue has one name, so two test files
 * running side by side must not share them), a reply queue to read the exporter's answers, and seeding.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Channel, ChannelModel, ConsumeMessage, GetMessage } from 'amqplib';
import { loadConfig, type Config, type MongoTarget } from '../../src/config/config';
import { connectAmqp } from '../../src/adapters/amqp';
import { declareTopology } from '../../src/adapters/amqp-topology';
import { EsrStore, dueWindow, type GeneratedAppRecord } from '../../src/adapters/esr-store';
import { openMongo } from '../../src/adapters/mongo';
import { assertTestDatabase } from './test-database';
import { openVhost } from '../../src/local/rabbitmq';
import { QUEUES } from '../../src/shared/amqp';
import { type AppFileCommand } from '../../src/shared/esr';

export interface IsolatedEsr {
  config: Config;
  /** The environment that gives `config`: add to it for a variant (loadConfig({ ...env, X })). */
  env: Record<string, string | undefined>;
  store: EsrStore;
  close(): Promise<void>;
}

/**
 * A store, vhost and files directory for this test file only; close() removes them. With `cojStores`, TSS's
 * and TIS's stores too: for a test whose reconciliation must see only its own signed CoJs.
 */
export async function isolatedEsr(tag: string, { cojStores = false }: { cojStores?: boolean } = {}): Promise<IsolatedEsr> {
  const base = loadConfig();
  // Ends with this process's id, so that the harness's sweep of abandoned vhosts leaves it alone while it lives.
  const amqp = await openVhost(base.amqp.url, `${decodeURIComponent(new URL(base.amqp.url).pathname.slice(1))}-${tag}-${process.pid}`);
  // This file's own database beside the run's: "<run's database>_<tag>", plus "_tss" / "_tis" for those stores.
  const databaseOf = (target: MongoTarget, suffix = ''): MongoTarget => {
    const database = `${target.database}_${tag.replace(/-/g, '_')}${suffix}`;
    assertTestDatabase(database);
    return { database, uri: target.uri.replace(/\/[^/?]*(\?|$)/, `/${database}$1`) };
  };
  const own = { esr: databaseOf(base.mongo.esr), ...(cojStores && { tss: databaseOf(base.mongo.tss, '_tss'), tis: databaseOf(base.mongo.tis, '_tis') }) };
  const filesDir = fs.mkdtempSync(path.join(os.tmpdir(), `tisw-${tag}-files-`));
  const env = {
    ...process.env,
    AMQP_URL: amqp.url,
    ESR_MONGODB_URI: own.esr.uri,
    ...(own.tss && { TSS_MONGODB_URI: own.tss.uri }),
    ...(own.tis && { TIS_MONGODB_URI: own.tis.uri }),
    TISW_ESR_FILES_DIR: filesDir,
  };
  const config = loadConfig(env);
  const store = await EsrStore.open(config.mongo.esr, 'test', { createIndexes: true }); // the tests stand for the exporter, the store's owner
  return {
    config,
    env,
    store,
    async close() {
      await store.db.dropDatabase().catch(() => undefined);
      for (const target of [own.tss, own.tis]) {
        if (!target) continue;
        const { db, close } = await openMongo(target, 'test');
        await db.dropDatabase().catch(() => undefined);
        await close();
      }
      await store.close();
      await amqp.remove();
      fs.rmSync(filesDir, { recursive: true, force: true });
    },
  };
}

/**
 * A run date no other test uses, far enough from the others (200 days) that no record due on one is
 * due on another (the due window spans 13 weeks).
 */
let dayOffset = 0;
export function uniqueRunDate(): string {
  dayOffset += 200;
  const base = Date.UTC(2100 + (process.pid % 500), 0, 1);
  return new Date(base + dayOffset * 86_400_000).toISOString().slice(0, 10);
}

/** YYYY-MM-DD plus some days. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** A well-formed GeneratedAppRecord, TO_EXPORT, for a placement starting on `start`. */
export function appRecord(deanery: string, start: string): GeneratedAppRecord {
  const id = randomUUID();
  return {
    _id: id,
    deanery,
    placementId: `P${id.slice(0, 8)}`,
    positionNumber: `${deanery}/RTH01/${id.slice(9, 13)}`,
    applicant: { forenames: 'Ada', surname: `Lovelace-${id.slice(0, 4)}`, gmcNumber: '7654321' },
    placementStartDate: start,
    status: 'TO_EXPORT',
  };
}

/** Seeds `due` records that are due on runDate and `notDue` that are not (too soon or too late). */
export async function seedRecords(store: EsrStore, deanery: string, runDate: string, counts: { due: number; notDue?: number }): Promise<{ due: string[]; notDue: string[] }> {
  const { from, before } = dueWindow(runDate);
  const due = Array.from({ length: counts.due }, (_, i) => appRecord(deanery, i % 2 === 0 ? from : addDays(before, -1)));
  const notDue = Array.from({ length: counts.notDue ?? 0 }, (_, i) => appRecord(deanery, i % 2 === 0 ? addDays(from, -1) : before));
  if (due.length + notDue.length > 0) await store.records.insertMany([...due, ...notDue]);
  return { due: due.map((r) => r._id), notDue: notDue.map((r) => r._id) };
}

/**
 * Whether any two generations of these run dates' files overlapped in time (one started before the one
 * started before it finished): what the one-lane rule forbids.
 */
export async function generationsOverlap(store: EsrStore, ...runDates: string[]): Promise<boolean> {
  const files = (await Promise.all(runDates.map((d) => store.appFilesOf(d)))).flat();
  const spans = files.map((f) => [f.startedAt.getTime(), (f.finishedAt ?? f.startedAt).getTime()] as const).sort((a, b) => a[0] - b[0]);
  return spans.some((span, i) => i > 0 && span[0] < (spans[i - 1]?.[1] ?? 0));
}

/** A message's properties as a test sets them; `raw` sends the body's text as it is instead of as JSON. */
export interface RawProperties {
  queue?: string;
  correlationId?: string;
  messageId?: string;
  contentType?: string;
  replyTo?: string;
  raw?: boolean;
}

export interface ReplyReader {
  queue: string;
  /** Waits for the reply with this correlationId (already received or yet to come). */
  reply(correlationId: string, timeoutMs?: number): Promise<{ body: Record<string, unknown>; message: ConsumeMessage }>;
  /** Publishes a raw message (any body and properties) to the exporter's queue or another `queue`, replies coming here. */
  send(body: unknown, properties?: RawProperties): Promise<void>;
  command(command: AppFileCommand): Promise<void>;
  /** Messages on a dead-letter queue, taken off it. */
  deadLetters(queue: string): Promise<GetMessage[]>;
  close(): Promise<void>;
}

export async function replyReader(config: Config): Promise<ReplyReader> {
  const connection: ChannelModel = await connectAmqp({ url: config.amqp.url, connectionName: 'test-esr-replies' });
  const channel: Channel = await connection.createConfirmChannel();
  await declareTopology(channel);
  const { queue } = await channel.assertQueue('', { exclusive: true });
  const received = new Map<string, { body: Record<string, unknown>; message: ConsumeMessage }>();
  const waiters = new Map<string, () => void>();
  await channel.consume(
    queue,
    (message) => {
      if (!message) return;
      const id = String(message.properties.correlationId);
      received.set(id, { body: JSON.parse(message.content.toString()) as Record<string, unknown>, message });
      waiters.get(id)?.();
    },
    { noAck: true },
  );
  const publish = (body: unknown, props: RawProperties = {}): Promise<void> =>
    new Promise((resolve, reject) => {
      const content = props.raw ? Buffer.from(String(body)) : Buffer.from(JSON.stringify(body));
      (channel as unknown as import('amqplib').ConfirmChannel).publish(
        '',
        props.queue ?? QUEUES.esrAppFileCommand,
        content,
        {
          persistent: true,
          contentType: props.contentType ?? 'application/json',
          ...(props.correlationId !== undefined && { correlationId: props.correlationId }),
          messageId: props.messageId ?? randomUUID(),
          replyTo: props.replyTo ?? queue,
        },
        (err: unknown) => (err ? reject(new Error('nacked')) : resolve()),
      );
    });
  return {
    queue,
    reply(correlationId, timeoutMs = 30_000) {
      const got = received.get(correlationId);
      if (got) return Promise.resolve(got);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply for ${correlationId} within ${timeoutMs} ms`)), timeoutMs);
        waiters.set(correlationId, () => {
          clearTimeout(timer);
          waiters.delete(correlationId);
          const value = received.get(correlationId);
          if (value) resolve(value);
        });
      });
    },
    send: publish,
    command: (command) => publish(command, { correlationId: command.commandId, messageId: command.commandId }),
    async deadLetters(dlq) {
      const out: GetMessage[] = [];
      for (let m = await channel.get(dlq, { noAck: true }); m; m = await channel.get(dlq, { noAck: true })) out.push(m);
      return out;
    },
    async close() {
      await connection.close().catch(() => undefined);
    },
  };
}
