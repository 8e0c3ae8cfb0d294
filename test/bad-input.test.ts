/**
 * Bad input, at every entry point, as one table per entry point (issue 7). Each row names the input and
 * the outcome it must end in:
 *   - the client API: an error naming the problem, and nothing started;
 *   - the CLI: exit 2 (1 for an id that is well formed but unknown) and a message naming the problem;
 *   - a queue's consumer: the message dead-lettered with the reason in x-tisw-dead-letter-reason (and a
 *     rejection to the sender where the message says where to reply), a rejection, or a documented drop
 *     with its log line.
 * After every bad message a valid one follows, and must take effect exactly once: the consumer is still
 * consuming and nothing valid is lost. Everything runs on the real servers, on a vhost, an ESR store and a
 * task queue of this file's own.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { GetMessage } from 'amqplib';
import { loadConfig, type Config } from '../src/config/config';
import { createLogger, type Logger } from '../src/config/logger';
import { cojSettings, submitCoj, InvalidCojError } from '../src/client/coj';
import { requestEsrRun, type EsrRunOptions } from '../src/client/esr';
import { startCojReceiver } from '../src/receivers/coj-receiver';
import { startEsrExporter } from '../src/receivers/esr-exporter';
import { startWorker, type TiswWorker } from '../src/worker/worker';
import { esrRequestWorkflow } from '../src/workflows/esr-run.workflow';
import type { Consumer } from '../src/adapters/amqp-consumer';
import type { TisStore } from '../src/adapters/tis-store';
import type { TssStore } from '../src/adapters/tss-store';
import { InvalidInputError } from '../src/shared/errors';
import { DEAD_LETTER_REASON_HEADER, deadLetterQueue, QUEUES } from '../src/shared/amqp';
import { cojWorkflowId, type CojSignature } from '../src/shared/coj';
import { ESR_LANE_WORKFLOW_ID, esrRequestWorkflowId, esrRunWorkflowId, type AppFileCommand, type EsrRunStatus } from '../src/shared/esr';
import { quietRuntime, runStatuses, within } from './support/system';
import { tisw } from './support/processes';
import { newSignature, openCojStores, signed, type CojTestStores } from './support/coj';
import { isolatedEsr, replyReader, seedRecords, uniqueRunDate, type IsolatedEsr, type RawProperties, type ReplyReader } from './support/esr';
import { eventually } from '../src/shared/poll';

/** What a consumer must do with a message: dead-letter it, reject it (no dead letter), drop it with a log line, or take it. */
type Outcome = { deadLetter: RegExp } | { rejected: RegExp } | { dropped: RegExp } | { accepted: true };

interface MessageRow {
  what: string;
  /** JSON-encoded unless `raw` is set in the properties. */
  body: unknown;
  properties?: RawProperties;
  outcome: Outcome;
}

const OVERSIZED = 'a'.repeat(300 * 1024);
const JSON_WITH_CHARSET = 'application/json; charset=utf-8';

const cojEvent = (s: Pick<CojSignature, 'programmeMembershipTisId' | 'signedAt' | 'version'>): object => ({
  programmeMembershipTisId: s.programmeMembershipTisId,
  conditionsOfJoining: { signedAt: s.signedAt, version: s.version, syncedAt: null },
});

describe('bad input, at every entry point', () => {
  let esr: IsolatedEsr;
  let config: Config;
  let stores: CojTestStores;
  let client: Client;
  let tss: TssStore;
  let tis: TisStore;
  let replies: ReplyReader;
  let worker: TiswWorker;
  let running: Promise<void>;
  let receivers: Consumer[];
  /** Every line our processes logged (info and up), parsed: drops are documented by their log line. */
  const logged: Array<Record<string, unknown>> = [];
  let log: Logger;
  /** The exporter holds a command of this run date until released (the run is then waiting for its reply). */
  let heldRunDate: string | undefined;
  let commandHeld: () => void = () => undefined;
  let releaseCommand: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    esr = await isolatedEsr('bad-input');
    config = loadConfig({ ...esr.env, TEMPORAL_TASK_QUEUE: `tis-workflows-bad-input-${process.pid}` });
    log = createLogger({ ...config, logLevel: 'info' }, 'test', { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
    stores = await openCojStores(config);
    ({ client, tss, tis } = stores);
    replies = await replyReader(config);
    quietRuntime(config);
    worker = await startWorker(config, log, { ensureClusterSetup: false });
    running = worker.run();
    receivers = [
      startCojReceiver({ amqpUrl: config.amqp.url, tisStore: tis, log }),
      startEsrExporter({
        amqpUrl: config.amqp.url,
        store: esr.store,
        filesDir: config.esr.filesDir,
        log,
        requeueDelayMs: 100,
        beforeGeneration: async (command) => {
          if (command.runDate !== heldRunDate) return;
          commandHeld();
          await releaseCommand;
        },
      }),
    ];
    await Promise.all([worker.ready, ...receivers.map((r) => r.ready)]);
  });

  afterAll(async () => {
    await Promise.allSettled(receivers.map((r) => r.stop()));
    worker.shutdown();
    await running;
    await client.workflow.getHandle(ESR_LANE_WORKFLOW_ID).terminate('tests done').catch(() => undefined);
    await replies.close();
    await stores.close();
    await esr.close();
  });

  /** Messages taken off dead-letter queues so far, by messageId (a queue is drained whole at each look). */
  const deadLettered = new Map<string, GetMessage>();
  async function deadLetter(queue: string, messageId: string): Promise<GetMessage> {
    return eventually(
      `message ${messageId} on ${deadLetterQueue(queue)}`,
      async () => {
        for (const m of await replies.deadLetters(deadLetterQueue(queue))) deadLettered.set(String(m.properties.messageId), m);
        return deadLettered.get(messageId);
      },
      20_000,
    );
  }

  const reasonOf = (message: GetMessage): string => String(message.properties.headers?.[DEAD_LETTER_REASON_HEADER]);

  /** Sends a row's message to `queue` and checks its outcome; returns the reply to it, if one is expected. */
  async function sendRow(queue: string, row: MessageRow, correlationId: string | undefined): Promise<Record<string, unknown> | undefined> {
    const messageId = randomUUID();
    await replies.send(row.body, { queue, messageId, ...(correlationId !== undefined && { correlationId }), ...row.properties });
    const { outcome } = row;
    if ('deadLetter' in outcome) expect(reasonOf(await deadLetter(queue, messageId))).toMatch(outcome.deadLetter);
    if ('dropped' in outcome) {
      await eventually(`the log line of the drop of ${correlationId}`, async () => (logged.some((l) => l.workflowId === correlationId && outcome.dropped.test(String(l.msg))) ? true : undefined), 20_000);
    }
    if (queue === QUEUES.acknowledgement || correlationId === undefined) return undefined;
    const { body } = await replies.reply(correlationId);
    if ('deadLetter' in outcome) expect(body).toMatchObject({ status: 'rejected', reason: expect.stringMatching(outcome.deadLetter) as unknown });
    if ('rejected' in outcome) expect(body).toMatchObject({ status: 'rejected', reason: expect.stringMatching(outcome.rejected) as unknown });
    if ('accepted' in outcome) expect(body).toMatchObject({ status: 'ok' });
    return body;
  }

  // -----------------------------------------------------------------------------------------------
  describe('the client API refuses it with an error naming the problem, and starts nothing', () => {
    const pm = randomUUID();
    const valid = { programmeMembershipTisId: pm, traineeTisId: '4711', signedAt: '2026-01-05T09:30:00Z', version: 'GG10' };
    it.each<[string, unknown, RegExp]>([
      ['not an object', null, /invalid CoJ signature: \(message\): .*expected object/],
      ['a string', 'GG10', /expected object/],
      ['no fields at all', {}, /programmeMembershipTisId: .*; traineeTisId: .*; signedAt: .*; version: /],
      ['fields of the wrong type', { programmeMembershipTisId: 42, traineeTisId: 4711, signedAt: 1767605400000, version: 10 }, /programmeMembershipTisId: .*expected string.*traineeTisId: .*expected string.*signedAt: .*expected string/],
      ['a malformed programme membership id', { ...valid, programmeMembershipTisId: 'x; drop' }, /programmeMembershipTisId: must be a UUID or a comma-joined list of numeric ids/],
      ['an oversized programme membership id', { ...valid, programmeMembershipTisId: Array.from({ length: 60 }, (_, i) => i + 1).join(',') }, /programmeMembershipTisId: must be a UUID/],
      ['a trainee id that is not numeric', { ...valid, traineeTisId: 'abc' }, /traineeTisId: must be a numeric TIS id/],
      ['an unknown version', { ...valid, version: 'GG99' }, /version: must be one of GG9, GG10/],
      ['signedAt without a zone', { ...valid, signedAt: '2026-01-05T09:30:00' }, /signedAt: must be an ISO-8601 instant with a zone/],
      ['signedAt on a day that does not exist', { ...valid, signedAt: '2026-02-30T09:30:00Z' }, /signedAt: is not a real date and time/],
      ['signedAt at an hour that does not exist', { ...valid, signedAt: '2026-01-05T24:00:00Z' }, /signedAt: is not a real date and time/],
      ['signedAt in the future', { ...valid, signedAt: '2099-01-01T00:00:00Z' }, /signedAt 2099-01-01T00:00:00Z is in the future/],
    ])('submitCoj: %s', async (_what, input, message) => {
      const submitting = submitCoj(client, cojSettings(config), input);
      await expect(submitting).rejects.toThrow(InvalidCojError);
      await expect(submitting).rejects.toThrow(message);
      await expect(client.workflow.getHandle(cojWorkflowId(pm)).describe()).rejects.toThrow(WorkflowNotFoundError);
    });

    it.each<[string, Partial<Record<keyof EsrRunOptions, unknown>>, RegExp]>([
      ['a run date that is not a date', { runDate: 'tomorrow' }, /runDate: must be a date YYYY-MM-DD; got "tomorrow"/],
      ['a run date that does not exist', { runDate: '2026-02-30' }, /runDate: is not a real date; got "2026-02-30"/],
      ['a run date of the wrong type', { runDate: 20260105 }, /runDate: .*expected string/],
      ['no deanery', { deaneries: [] }, /deaneries: name at least one deanery/],
      ['deaneries that are not a list', { deaneries: 'KSS' }, /deaneries: must be a list of deanery codes; got "KSS"/],
      ['an unknown deanery', { deaneries: ['KSS', 'XYZ'] }, /deaneries: unknown deanery XYZ; known: EMD, KSS/],
      ['a timing that is not a whole number', { timings: { resendInitialMs: 0.5 } }, /timings.resendInitialMs: must be a whole number of at least 1; got 0.5/],
    ])('requestEsrRun: %s', async (_what, bad, message) => {
      // Refused before the request workflow starts: a started one would fail with WorkflowFailedError instead.
      const requesting = requestEsrRun(client, { runDate: '2026-01-05', deaneries: ['KSS'], taskQueue: config.temporal.taskQueue, ...bad } as EsrRunOptions);
      await expect(requesting).rejects.toThrow(InvalidInputError);
      await expect(requesting).rejects.toThrow(message);
    });
  });

  // -----------------------------------------------------------------------------------------------
  describe('the CLI exits 2 with a message naming the problem', () => {
    const uuid = randomUUID();
    const submit = (pm: string, trainee: string, signedAt: string, version: string): string[] => ['coj', 'submit', '--programme-membership', pm, '--trainee', trainee, '--signed-at', signedAt, '--version', version];
    it.each<[string[], number, RegExp[]]>([
      [['frobnicate'], 2, [/unknown command 'frobnicate'/]],
      [['coj', 'submit', '--trainee', '1'], 2, [/required option '--programme-membership <id>' not specified/]],
      [submit('not-a-uuid', 'abc', 'yesterday', 'GG99'), 2, [/programmeMembershipTisId: must be a UUID/, /traineeTisId: must be a numeric TIS id/, /signedAt: must be an ISO-8601 instant/, /version: must be one of GG9, GG10/]],
      [submit(uuid, '42', '2026-02-30T09:30:00Z', 'GG10'), 2, [/signedAt: is not a real date and time/]],
      [submit(uuid, '42', '2099-01-01T00:00:00Z', 'GG10'), 2, [/in the future/]],
      [['coj', 'status'], 2, [/missing required argument 'programme-membership-id'/]],
      [['coj', 'status', 'x; drop'], 2, [/programme membership id must be a UUID or a comma-joined list of numeric ids; got "x; drop"/]],
      [['coj', 'status', uuid], 1, [new RegExp(`no CoJ submission for programme membership ${uuid}`)]],
      [['coj', 'resend', '--from', '2026-01-01'], 2, [/required option '--to <date>' not specified/]],
      [['coj', 'resend', '--from', 'nonsense', '--to', '2026-03-01'], 2, [/'nonsense' is invalid\. expected a real ISO date/]],
      [['coj', 'resend', '--from', '2026-02-30', '--to', '2026-03-01'], 2, [/'2026-02-30' is invalid\. expected a real ISO date/]],
      [['coj', 'resend', '--from', '2026-02-01', '--to', '2026-01-01'], 2, [/--from 2026-02-01T00:00:00.000Z must be before --to 2026-01-01T00:00:00.000Z/]],
      [['esr', 'run'], 2, [/required option '--date <YYYY-MM-DD>' not specified/]],
      [['esr', 'run', '--date', '05/01/2026'], 2, [/--date must be a date YYYY-MM-DD; got "05\/01\/2026"/]],
      [['esr', 'run', '--date', '2026-02-30'], 2, [/--date is not a real date; got "2026-02-30"/]],
      [['esr', 'run', '--date', '2026-01-05', '--deanery', 'KSS', 'XYZ'], 2, [/unknown deanery XYZ; known: EMD, KSS/]],
      [['esr', 'run', '--date', '2026-01-05', '--deanery'], 2, [/option '--deanery <codes\.\.\.>' argument missing/]],
      [['esr', 'backfill', '--from', '2026-01-05'], 2, [/required option '--to <YYYY-MM-DD>' not specified/]],
      [['esr', 'backfill', '--from', '2026-01-06', '--to', '2026-01-05'], 2, [/--from 2026-01-06 is after --to 2026-01-05/]],
      [['esr', 'backfill', '--from', '2020-01-01', '--to', '2026-01-05'], 2, [/2197 days is more than a year: split the backfill/]],
      [['esr', 'backfill', '--from', '2026-01-01', '--to', '2026-13-01'], 2, [/--to is not a real date; got "2026-13-01"/]],
      [['schedule'], 2, [/Usage: tisw schedule/, /describe/]],
      [['schedule', 'frobnicate'], 2, [/unknown command 'frobnicate'/]],
      [['schedule', 'pause', '--frob'], 2, [/unknown option '--frob'/]],
      [['schedule', 'trigger', 'now'], 2, [/too many arguments for 'trigger'/]],
      [['stuck', '--limit', '0'], 2, [/expected a whole number of at least 1, got "0"/]],
    ])('tisw %j', async (args, code, messages) => {
      const { code: exitCode, stderr } = await tisw(args);
      expect({ exitCode, stderr }).toEqual({ exitCode: code, stderr: expect.stringMatching(messages[0] ?? /./) as unknown });
      for (const message of messages) expect(stderr).toMatch(message);
    });
  });

  // -----------------------------------------------------------------------------------------------
  describe('the TIS CoJ receiver dead-letters or rejects it, and a valid CoJ after it is stored once', () => {
    const event = (conditionsOfJoining: Record<string, unknown>): object => ({ programmeMembershipTisId: randomUUID(), conditionsOfJoining });
    const good = { signedAt: '2026-01-05T09:30:00Z', version: 'GG10', syncedAt: null };
    it.each<MessageRow>([
      { what: 'not JSON', body: '{"programmeMembershipTisId": ', properties: { raw: true }, outcome: { deadLetter: /^body is not valid JSON$/ } },
      { what: 'the wrong content type', body: '<coj/>', properties: { raw: true, contentType: 'text/xml' }, outcome: { deadLetter: /^content type text\/xml is not application\/json$/ } },
      { what: 'an oversized body', body: OVERSIZED, properties: { raw: true }, outcome: { deadLetter: /^message of 307200 bytes is over the 262144-byte limit$/ } },
      { what: 'JSON that is not an object', body: [1, 2], outcome: { deadLetter: /^not a CoJ event: \(message\): .*expected object/ } },
      { what: 'no conditionsOfJoining', body: { programmeMembershipTisId: randomUUID() }, outcome: { deadLetter: /conditionsOfJoining: .*expected object/ } },
      { what: 'no signedAt', body: event({ version: 'GG10', syncedAt: null }), outcome: { deadLetter: /conditionsOfJoining\.signedAt: .*expected string/ } },
      { what: 'fields of the wrong type', body: event({ signedAt: 1767605400000, version: 10, syncedAt: 'yes' }), outcome: { deadLetter: /signedAt: .*version: .*syncedAt: / } },
      { what: 'an unknown version', body: event({ ...good, version: 'GG99' }), outcome: { deadLetter: /conditionsOfJoining\.version: must be one of GG9, GG10/ } },
      { what: 'a signedAt on a day that does not exist', body: event({ ...good, signedAt: '2026-02-30T09:30:00Z' }), outcome: { deadLetter: /conditionsOfJoining\.signedAt: is not a real date and time/ } },
      { what: 'a malformed programme membership id', body: { programmeMembershipTisId: 'x; drop', conditionsOfJoining: good }, outcome: { deadLetter: /programmeMembershipTisId: must be a UUID/ } },
      { what: 'an unknown programme membership', body: { programmeMembershipTisId: '00000000-0000-4000-8000-000000000000', conditionsOfJoining: good }, outcome: { rejected: /^unknown programme membership 00000000-0000-4000-8000-000000000000$/ } },
      { what: 'a JSON content type with a UTF-8 charset (valid)', body: 'valid', properties: { contentType: JSON_WITH_CHARSET }, outcome: { accepted: true } },
    ])('$what', async (row) => {
      // The valid row's body is a CoJ of a programme membership TIS knows.
      const valid = async (): Promise<CojSignature> => signed(tss, tis, newSignature());
      const message = row.body === 'valid' ? { ...row, body: cojEvent(await valid()) } : row;
      await sendRow(QUEUES.cojSigned, message, `coj-${randomUUID()}`);
      if ('rejected' in row.outcome) expect(await tis.findCojs([(row.body as { programmeMembershipTisId: string }).programmeMembershipTisId])).toHaveLength(0);
      await expectCojStoredOnce(await valid());
    });

    async function expectCojStoredOnce(s: CojSignature): Promise<void> {
      const correlationId = `coj-${randomUUID()}`;
      await replies.send(cojEvent(s), { queue: QUEUES.cojSigned, correlationId });
      expect((await replies.reply(correlationId)).body).toEqual({ status: 'ok', programmeMembershipTisId: s.programmeMembershipTisId, signedAt: s.signedAt, version: s.version });
      expect(await tis.findCojs([s.programmeMembershipTisId])).toEqual([expect.objectContaining({ signedAt: new Date(s.signedAt), version: s.version })]);
    }

    it('a duplicate CoJ: both acknowledged, stored once, unchanged by the second', async () => {
      const s = await signed(tss, tis, newSignature());
      await expectCojStoredOnce(s);
      const first = await tis.findCoj(s.programmeMembershipTisId);
      await expectCojStoredOnce(s);
      expect(await tis.findCoj(s.programmeMembershipTisId)).toEqual(first);
    });

    it('a replyTo that names no queue: the CoJ is stored, the unroutable reply logged, and the receiver goes on', async () => {
      const s = await signed(tss, tis, newSignature());
      const correlationId = `coj-${randomUUID()}`;
      await replies.send(cojEvent(s), { queue: QUEUES.cojSigned, correlationId, replyTo: `no-such-queue-${randomUUID()}` });
      await eventually('the log line of the unroutable reply', async () => (logged.some((l) => l.correlationId === correlationId && /could not be routed/.test(String(l.msg))) ? true : undefined), 20_000);
      expect(await tis.findCojs([s.programmeMembershipTisId])).toHaveLength(1);
      await expectCojStoredOnce(await signed(tss, tis, newSignature()));
    });

    it('an older and a newer CoJ of one programme membership arriving together: both acknowledged, the newer kept', async () => {
      const newer = await Promise.all(Array.from({ length: 10 }, () => signed(tss, tis, newSignature())));
      const sent = newer.flatMap((s) => {
        const older = { ...s, signedAt: new Date(Date.parse(s.signedAt) - 60_000).toISOString(), version: 'GG9' as const };
        return [older, s].map((c) => ({ c, correlationId: `coj-${randomUUID()}` }));
      });
      await Promise.all(sent.map(({ c, correlationId }) => replies.send(cojEvent(c), { queue: QUEUES.cojSigned, correlationId })));
      for (const { c, correlationId } of sent) expect((await replies.reply(correlationId)).body).toMatchObject({ status: 'ok', signedAt: c.signedAt });
      const stored = await tis.findCojs(newer.map((s) => s.programmeMembershipTisId));
      expect(stored.map((c) => [c.programmeMembershipTisId, c.version, c.signedAt.toISOString()]).sort()).toEqual(newer.map((s) => [s.programmeMembershipTisId, 'GG10', s.signedAt]).sort());
    });

    it('a late CoJ, older than the one TIS has: acknowledged, and the newer one kept', async () => {
      const newer = await signed(tss, tis, newSignature());
      await expectCojStoredOnce(newer);
      const correlationId = `coj-${randomUUID()}`;
      const older = { ...newer, signedAt: new Date(Date.parse(newer.signedAt) - 60_000).toISOString(), version: 'GG9' as const };
      await replies.send(cojEvent(older), { queue: QUEUES.cojSigned, correlationId });
      expect((await replies.reply(correlationId)).body).toMatchObject({ status: 'ok', signedAt: older.signedAt });
      expect(await tis.findCojs([newer.programmeMembershipTisId])).toEqual([expect.objectContaining({ signedAt: new Date(newer.signedAt), version: 'GG10' })]);
    });
  });

  // -----------------------------------------------------------------------------------------------
  describe('the ESR data exporter dead-letters it with a rejection, and a valid command after it makes one file', () => {
    const runDate = uniqueRunDate();
    it.each<MessageRow>([
      { what: 'not JSON', body: '{not json', properties: { raw: true }, outcome: { deadLetter: /^body is not valid JSON$/ } },
      { what: 'the wrong content type', body: { commandId: 'c-1', deanery: 'KSS', runDate }, properties: { contentType: 'text/plain' }, outcome: { deadLetter: /^content type text\/plain is not application\/json$/ } },
      { what: 'an oversized body', body: OVERSIZED, properties: { raw: true }, outcome: { deadLetter: /over the 262144-byte limit/ } },
      { what: 'JSON that is not an object', body: 'KSS', outcome: { deadLetter: /^not an app-file command: \(message\): .*expected object/ } },
      { what: 'missing fields', body: { deanery: 'KSS' }, outcome: { deadLetter: /commandId: .*expected string.*runDate: .*expected string/ } },
      { what: 'fields of the wrong type', body: { commandId: 7, deanery: ['KSS'], runDate: 20300101 }, outcome: { deadLetter: /commandId: .*deanery: .*runDate: / } },
      { what: 'a run date that does not exist', body: { commandId: 'c-2', deanery: 'KSS', runDate: '2030-02-30' }, outcome: { deadLetter: /runDate: is not a real date/ } },
      { what: 'a malformed command id', body: { commandId: 'a b/c', deanery: 'KSS', runDate }, outcome: { deadLetter: /commandId: must be 1-200 letters/ } },
      { what: 'a deanery code of the wrong shape', body: { commandId: 'c-3', deanery: 'kss', runDate }, outcome: { deadLetter: /deanery: must be a three-letter deanery code/ } },
      { what: 'an unknown deanery', body: { commandId: 'c-4', deanery: 'XYZ', runDate }, outcome: { deadLetter: /^unknown deanery XYZ; known: EMD, KSS, NTH/ } },
      { what: 'a JSON content type with a UTF-8 charset (valid)', body: 'valid', properties: { contentType: JSON_WITH_CHARSET }, outcome: { accepted: true } },
    ])('$what', async (row) => {
      const command = (): AppFileCommand => ({ commandId: `bad-input-${randomUUID()}`, deanery: 'KSS', runDate });
      const message = row.body === 'valid' ? { ...row, body: command() } : row;
      const commandId = (message.body as { commandId?: unknown }).commandId;
      await sendRow(QUEUES.esrAppFileCommand, message, `esr-${randomUUID()}`);
      if (!('accepted' in row.outcome) && typeof commandId === 'string') expect(await esr.store.appFiles.countDocuments({ _id: commandId })).toBe(0);
      if ('accepted' in row.outcome) expect(await esr.store.appFiles.countDocuments({ _id: commandId as string })).toBe(1);
      // Still consuming: a valid command after the bad one gets its file, once.
      const after = command();
      const body = await sendRow(QUEUES.esrAppFileCommand, { what: 'valid', body: after, outcome: { accepted: true } }, `esr-${randomUUID()}`);
      expect(body).toMatchObject({ commandId: after.commandId, deanery: 'KSS', fileName: expect.stringMatching(/^DE_KSS_APP_/) as unknown });
      expect(await esr.store.appFiles.countDocuments({ _id: after.commandId })).toBe(1);
    });
  });

  // -----------------------------------------------------------------------------------------------
  describe('the acknowledgement listener dead-letters or drops it, and a CoJ delivered after it is synced once', () => {
    const coj = (): string => `coj-${randomUUID()}`;
    const esrRun = (): string => `esr-run-2026-01-05-${randomUUID()}`;
    const fileReply = { status: 'ok', commandId: 'esr-2026-01-05-KSS-1', deanery: 'KSS', fileName: 'DE_KSS_APP_20260105_00000001.DAT', sequence: 1, recordCount: 0, skipped: [] };
    it.each<MessageRow & { correlationId?: string }>([
      { what: 'no correlation id', body: { status: 'ok' }, outcome: { deadLetter: /^correlationId null names no workflow of ours$/ } },
      { what: 'a correlation id that names no workflow of ours', correlationId: 'payroll-123', body: { status: 'ok' }, outcome: { deadLetter: /^correlationId "payroll-123" names no workflow of ours$/ } },
      { what: 'not JSON', correlationId: coj(), body: 'ok!', properties: { raw: true }, outcome: { deadLetter: /^body is not valid JSON$/ } },
      { what: 'the wrong content type', correlationId: coj(), body: { status: 'ok' }, properties: { contentType: 'text/plain' }, outcome: { deadLetter: /^content type text\/plain is not application\/json$/ } },
      { what: 'an oversized body', correlationId: coj(), body: OVERSIZED, properties: { raw: true }, outcome: { deadLetter: /over the 262144-byte limit/ } },
      { what: 'JSON that is not an object', correlationId: coj(), body: null, outcome: { deadLetter: /^malformed CoJ reply: / } },
      { what: 'no status', correlationId: coj(), body: { fine: true }, outcome: { deadLetter: /^malformed CoJ reply: status: / } },
      { what: 'an unknown status', correlationId: coj(), body: { status: 'maybe' }, outcome: { deadLetter: /^malformed CoJ reply: status: / } },
      { what: 'a rejection without a reason', correlationId: coj(), body: { status: 'rejected' }, outcome: { deadLetter: /reason: .*expected string/ } },
      { what: 'a rejection whose reason is not a string', correlationId: coj(), body: { status: 'rejected', reason: 42 }, outcome: { deadLetter: /reason: .*expected string/ } },
      { what: 'a CoJ "ok" that names no signature', correlationId: coj(), body: { status: 'ok' }, outcome: { deadLetter: /^malformed CoJ reply: programmeMembershipTisId: .*signedAt: .*version: / } },
      { what: 'an ESR "ok" that names no file', correlationId: esrRun(), body: { status: 'ok', commandId: 'esr-2026-01-05-KSS-1' }, outcome: { deadLetter: /^malformed ESR reply: deanery: .*fileName: .*sequence: .*recordCount: .*skipped: / } },
      { what: 'an ESR "ok" whose sequence is not a number', correlationId: esrRun(), body: { ...fileReply, sequence: '00000001' }, outcome: { deadLetter: /^malformed ESR reply: sequence: .*expected number/ } },
      { what: 'a reply for a workflow that does not exist', correlationId: coj(), body: { status: 'ok', programmeMembershipTisId: randomUUID(), signedAt: '2026-01-05T09:30:00Z', version: 'GG10' }, outcome: { dropped: /^acknowledgement for a workflow that does not exist or has finished: dropped$/ } },
      { what: 'an ESR reply for a run that does not exist', correlationId: esrRun(), body: fileReply, outcome: { dropped: /does not exist or has finished: dropped$/ } },
    ])('$what', async (row) => {
      await sendRow(QUEUES.acknowledgement, row, row.correlationId);
      await expectCojSyncedOnce(await signed(tss, tis, newSignature()));
    });

    /** The whole flow after the bad reply: published, stored by TIS, acknowledged through the listener, syncedAt set, one run. */
    async function expectCojSyncedOnce(s: CojSignature): Promise<string> {
      await submitCoj(client, cojSettings(config), s);
      await within(30_000, `the CoJ of ${s.programmeMembershipTisId} delivered`, client.workflow.getHandle(cojWorkflowId(s.programmeMembershipTisId)).result());
      const synced = await tss.findCoj(s.programmeMembershipTisId);
      expect(synced?.syncedAt).toEqual(expect.any(String));
      expect(await tis.findCojs([s.programmeMembershipTisId])).toHaveLength(1);
      return synced?.syncedAt ?? '';
    }

    it("a late duplicate of TIS's reply, after the run completed: dropped with its log line, syncedAt written once", async () => {
      const s = await signed(tss, tis, newSignature());
      const syncedAt = await expectCojSyncedOnce(s);
      const workflowId = cojWorkflowId(s.programmeMembershipTisId);
      await sendRow(QUEUES.acknowledgement, { what: 'late', body: { status: 'ok', ...s }, outcome: { dropped: /does not exist or has finished: dropped$/ } }, workflowId);
      expect((await tss.findCoj(s.programmeMembershipTisId))?.syncedAt).toBe(syncedAt);
      await eventually('the run in visibility', async () => ((await runStatuses(client, workflowId)).length > 0 ? true : undefined), 20_000);
      expect(await runStatuses(client, workflowId)).toEqual(['COMPLETED']);
    });

    it('an ESR "ok" that names no file, while the run waits for the exporter, is not taken for the file', async () => {
      const runDate = uniqueRunDate();
      await seedRecords(esr.store, 'KSS', runDate, { due: 1 });
      heldRunDate = runDate;
      const held = new Promise<void>((resolve) => (commandHeld = resolve));
      let release: () => void = () => undefined;
      releaseCommand = new Promise<void>((resolve) => (release = resolve));
      const requestId = `bad-input-${randomUUID().slice(0, 8)}`;
      const request = await client.workflow.start(esrRequestWorkflow, {
        taskQueue: config.temporal.taskQueue,
        workflowId: esrRequestWorkflowId(requestId),
        args: [{ requestId, runDate, deaneries: ['KSS'], timings: { resendInitialMs: 20_000, resendMaxMs: 20_000, attemptsPerRound: 2, roundPauseMs: 1000, maxPasses: 2 } }],
      });
      await within(30_000, 'the exporter to take the command', held);
      const messageId = randomUUID();
      await replies.send({ status: 'ok' }, { queue: QUEUES.acknowledgement, messageId, correlationId: esrRunWorkflowId({ runDate, requestId }) });
      expect(reasonOf(await deadLetter(QUEUES.acknowledgement, messageId))).toMatch(/^malformed ESR reply: commandId: .*fileName: /);
      release();
      const status = (await within(60_000, 'the ESR run to finish', request.result())) as EsrRunStatus;
      const files = status.deaneries.find((d) => d.deanery === 'KSS')?.files ?? [];
      expect(files).toEqual([expect.objectContaining({ commandId: `esr-${runDate}-KSS-1`, fileName: expect.stringMatching(/^DE_KSS_APP_/) as unknown, recordCount: 1 })]);
      expect(await esr.store.appFiles.countDocuments({ runDate })).toBe(1);
    });
  });
});
