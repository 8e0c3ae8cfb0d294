/**
 * `tisw conformance coj`: the reply contract (how-it-works.md, "The acknowledgement contract") as an
 * executable test of someone else's CoJ receiver, before it carries real CoJs. It drives the live receiver
 * through its queue, one request at a time, and checks case by case what comes back to a reply queue of its
 * own (private, exclusive, auto-delete: nobody else's replies reach it, and it goes when the run does).
 *
 * Every request is marked as a test: the header x-tisw-conformance names the run, messageIds start
 * `tisw-conformance-`, and the programme memberships are fresh UUIDs. With the receiver's store (the
 * reference layout, TisStore) the run adds its own programme memberships there, reads back what each
 * delivery stored, and removes them after; without it, it uses one programme membership the receiver
 * knows, set aside for these tests, and judges by the replies alone.
 *
 * Requests go one at a time: a reply that arrives while a case waits is that case's answer, or, if it
 * carries a correlationId the run never sent (or none), evidence that the receiver does not echo it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage } from 'amqplib';
import type { MongoTarget } from '../config/config';
import { connectAmqp } from '../adapters/amqp';
import { openMongo, type MongoStore } from '../adapters/mongo';
import { TisStore, type TisCoj } from '../adapters/tis-store';
import { DEAD_LETTER_REASON_HEADER, deadLetterQueue } from '../shared/amqp';
import { type CojVersion } from '../shared/coj';
import { InvalidInputError } from '../shared/errors';
import { cojReply, describeIssues } from '../shared/messages';
import { LOCAL_HOSTS } from '../local/ports';

/** Header on every request of a run, naming the run: a receiver or an operator can tell test traffic apart. */
export const CONFORMANCE_HEADER = 'x-tisw-conformance';

/** The case names, as the table and --json show them: scripts and tests rely on them. */
export const COJ_CONFORMANCE_CASES = {
  firstDelivery: 'first delivery',
  repeat: 'same message again',
  olderAfterNewer: 'older signature after a newer one',
  unknown: 'unknown programme membership',
  malformed: (kind: MalformedKind) => `malformed: ${kind}`,
  validAfter: (kind: MalformedKind) => `valid CoJ after ${kind}`,
  correlation: 'replies carry correlationId to replyTo',
} as const;

export const MALFORMED_KINDS = ['not JSON', 'wrong content type', 'missing fields', 'oversized'] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

export interface ConformanceCase {
  case: string;
  expected: string;
  seen: string;
  pass: boolean;
}

export interface ConformanceReport {
  job: 'coj';
  queue: string;
  /** Marks every request of this run (header x-tisw-conformance, messageIds). */
  runId: string;
  /** Whether stored effects were read back from the receiver's store, or judged by the replies alone. */
  readBack: boolean;
  pass: boolean;
  cases: ConformanceCase[];
}

export interface CojConformanceOptions {
  amqpUrl: string;
  /** The receiver's queue. */
  queue: string;
  /** How long each request waits for its reply. */
  replyTimeoutMs: number;
  /** The receiver's store, in the reference layout (TisStore): fresh programme memberships are added there and read back. */
  store?: MongoTarget;
  /** Without a store: a programme membership the receiver knows, set aside for conformance tests. */
  programmeMembershipTisId?: string;
  /** The operator said yes to a broker that is not on this machine (a real receiver's queue). */
  remoteBrokerConfirmed?: boolean;
}

/** Bigger than any receiver should take (ours takes up to 256 KiB). */
const OVERSIZED_PADDING_BYTES = 300 * 1024;

/** Whether an AMQP URL names this machine: 127.0.0.0/8, ::1 or localhost. */
export function isLocalBroker(amqpUrl: string): boolean {
  const host = new URL(amqpUrl).hostname.replace(/^\[|\]$/g, '');
  return LOCAL_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export async function runCojConformance(options: CojConformanceOptions): Promise<ConformanceReport> {
  if (!options.store && !options.programmeMembershipTisId) {
    throw new InvalidInputError('name the receiver\'s store (--store-uri), where fresh test programme memberships are added and read back, or a programme membership it knows that is set aside for these tests (--programme-membership)');
  }
  if (!isLocalBroker(options.amqpUrl) && !options.remoteBrokerConfirmed) {
    // Only the host: the URL may hold a password.
    throw new InvalidInputError(`AMQP_URL names a broker on ${new URL(options.amqpUrl).hostname}, not this machine: conformance publishes test CoJs to ${options.queue} there; add --yes if that receiver is meant for it`);
  }
  const run = await ConformanceRun.open(options);
  try {
    return await run.coj();
  } finally {
    await run.close();
  }
}

interface Reply {
  correlationId: string | undefined;
  /** The parsed body, or undefined when it was not JSON. */
  body: unknown;
  taken: boolean;
}

type Answer = { kind: 'reply'; reply: Reply } | { kind: 'uncorrelated'; reply: Reply } | { kind: 'none' };

interface Request {
  content: Buffer;
  contentType: string;
  messageId: string;
  correlationId: string;
}

interface Signature {
  programmeMembershipTisId: string;
  signedAt: string;
  version: CojVersion;
}

const cojEvent = (s: Signature): object => ({ programmeMembershipTisId: s.programmeMembershipTisId, conditionsOfJoining: { signedAt: s.signedAt, version: s.version, syncedAt: null } });

class ConformanceRun {
  private readonly replies: Reply[] = [];
  /** Every correlationId sent: a reply carrying another (or none) did not echo its request's. */
  private readonly sent = new Set<string>();
  private wake: () => void = () => undefined;
  private requests = 0;
  private readonly seeded: string[] = [];
  /** Signatures go up one second at a time from ten minutes ago, so each is newer than the one before. */
  private readonly firstSignedAt = Date.now() - 10 * 60_000;
  private nextSecond = 0;

  private constructor(
    private readonly options: CojConformanceOptions,
    readonly runId: string,
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly replyQueue: string,
    private readonly returned: Set<string>,
    private readonly store: { mongo: MongoStore; tis: TisStore } | undefined,
  ) {}

  static async open(options: CojConformanceOptions): Promise<ConformanceRun> {
    const runId = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
    const connection = await connectAmqp({ url: options.amqpUrl, connectionName: `tisw-conformance-${runId}` });
    try {
      await requireConsumer(connection, options.queue);
      const channel = await connection.createConfirmChannel();
      const returned = new Set<string>();
      channel.on('return', (m: ConsumeMessage) => returned.add(String(m.properties.messageId)));
      const replyQueue = `tisw.queue.conformance.reply.${runId}`;
      await channel.assertQueue(replyQueue, { exclusive: true, autoDelete: true, durable: false });
      const store = options.store ? await openStore(options.store) : undefined;
      const run = new ConformanceRun(options, runId, connection, channel, replyQueue, returned, store);
      await channel.consume(replyQueue, (m) => m && run.received(m), { noAck: true });
      return run;
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    // The receiver may dead-letter a malformed request and reply to it too (ours does): the run's test
    // messages are its own to remove, so that an operator reading the dead-letter queue sees only real ones.
    await this.takeDeadLettered((m) => m.properties.headers?.[CONFORMANCE_HEADER] === this.runId).catch(() => undefined);
    if (this.store) {
      // The run's own programme memberships only: nothing of the receiver's is touched.
      await this.store.tis.programmeMemberships.deleteMany({ _id: { $in: this.seeded } }).catch(() => undefined);
      await this.store.mongo.close();
    }
    await this.connection.close().catch(() => undefined);
  }

  async coj(): Promise<ConformanceReport> {
    const cases: ConformanceCase[] = [];
    const C = COJ_CONFORMANCE_CASES;
    const pm = await this.knownProgrammeMembership();
    const stored = this.store ? '; stored' : '';
    const readBack = this.store ? '' : ' (by the reply alone: no --store-uri)';

    // A first delivery: ok, naming the signature it stored.
    const first = this.signature(pm);
    const firstRequest = this.jsonRequest(cojEvent(first));
    const firstAnswer = await this.ask(firstRequest);
    const storedFirst = await this.storedCoj(pm);
    cases.push({
      case: C.firstDelivery,
      expected: `ok naming ${describeSignature(first)}${stored}`,
      seen: describeAnswer(firstAnswer, this.options.replyTimeoutMs) + (this.store ? `; stored: ${describeStored(storedFirst)}` : ''),
      pass: okFor(firstAnswer, first) && (!this.store || sameSignature(storedFirst, first)),
    });

    // The same message again, as a resend is: the same answer, and nothing stored again.
    const repeatAnswer = await this.ask(firstRequest);
    const storedRepeat = await this.storedCoj(pm);
    const sameAnswer = firstAnswer.kind === 'reply' && repeatAnswer.kind === 'reply' && contractFields(repeatAnswer.reply.body) === contractFields(firstAnswer.reply.body);
    const secondEffect = this.store ? describeSecondEffect(storedFirst, storedRepeat) : undefined;
    cases.push({
      case: C.repeat,
      expected: `the same answer, no second effect${readBack}`,
      seen: `${describeAnswer(repeatAnswer, this.options.replyTimeoutMs)}${firstAnswer.kind === 'reply' && repeatAnswer.kind === 'reply' && !sameAnswer ? ' (not the first answer)' : ''}${this.store ? `; ${secondEffect ?? 'stored once'}` : ''}`,
      pass: sameAnswer && okFor(repeatAnswer, first) && secondEffect === undefined,
    });

    // A newer signature, then an older one arriving late: the newer stays.
    const older = this.signature(pm);
    const newer = this.signature(pm);
    const newerAnswer = await this.ask(this.jsonRequest(cojEvent(newer)));
    const olderAnswer = await this.ask(this.jsonRequest(cojEvent(older)));
    const storedAfter = await this.storedCoj(pm);
    cases.push({
      case: C.olderAfterNewer,
      expected: `the newer one stays${this.store ? ' stored' : ''}; both answered${readBack}`,
      seen: `newer: ${describeAnswer(newerAnswer, this.options.replyTimeoutMs)}; older: ${describeAnswer(olderAnswer, this.options.replyTimeoutMs)}${this.store ? `; stored: ${describeStored(storedAfter)}` : ''}`,
      // The older one may be acknowledged (it was received, and ignored) or rejected, as long as it is answered.
      pass: okFor(newerAnswer, newer) && (okFor(olderAnswer, older) || rejected(olderAnswer)) && (!this.store || sameSignature(storedAfter, newer)),
    });

    // A programme membership nobody has: an explicit rejection, so the sender stops resending.
    const unknownAnswer = await this.ask(this.jsonRequest(cojEvent({ ...this.signature(pm), programmeMembershipTisId: randomUUID() })));
    cases.push({ case: C.unknown, expected: 'rejected with a reason', seen: describeAnswer(unknownAnswer, this.options.replyTimeoutMs), pass: rejected(unknownAnswer) });

    // Each malformed kind: refused (a rejection, or the receiver's dead-letter queue), and the receiver still takes the next valid CoJ.
    for (const kind of MALFORMED_KINDS) {
      const request = this.malformedRequest(kind, this.signature(pm));
      const answer = await this.ask(request);
      const deadLetter = answer.kind === 'none' ? await this.findDeadLettered(request.messageId) : undefined;
      cases.push({
        case: C.malformed(kind),
        expected: 'rejected with a reason, or dead-lettered',
        seen: deadLetter?.found ? `dead-lettered to ${deadLetterQueue(this.options.queue)}${deadLetter.reason ? `: ${deadLetter.reason}` : ''}` : `${describeAnswer(answer, this.options.replyTimeoutMs)}${deadLetter ? `; ${deadLetter.why}` : ''}`,
        pass: rejected(answer) || deadLetter?.found === true,
      });
      const valid = this.signature(pm);
      const validAnswer = await this.ask(this.jsonRequest(cojEvent(valid)));
      cases.push({ case: C.validAfter(kind), expected: `ok naming ${describeSignature(valid)}`, seen: describeAnswer(validAnswer, this.options.replyTimeoutMs), pass: okFor(validAnswer, valid) });
    }

    // Every reply of the run came to its replyTo, with its request's correlationId.
    const foreign = this.replies.filter((r) => r.correlationId === undefined || !this.sent.has(r.correlationId));
    cases.push({
      case: C.correlation,
      expected: 'every reply on replyTo with its request\'s correlationId',
      seen: this.replies.length === 0 ? 'no reply at all' : `${this.replies.length - foreign.length} of ${this.replies.length} replies carried a correlationId the run sent${foreign.length ? `; others: ${foreign.slice(0, 3).map((r) => r.correlationId ?? '(none)').join(', ')}` : ''}`,
      pass: this.replies.length > 0 && foreign.length === 0,
    });

    return { job: 'coj', queue: this.options.queue, runId: this.runId, readBack: this.store !== undefined, pass: cases.every((c) => c.pass), cases };
  }

  private async knownProgrammeMembership(): Promise<string> {
    if (!this.store) return this.options.programmeMembershipTisId as string;
    const id = randomUUID();
    // The person id names the run: the record is plainly a conformance test's, should it outlive the run.
    await this.store.tis.addProgrammeMembership(id, `tisw-conformance-${this.runId}`);
    this.seeded.push(id);
    return id;
  }

  private signature(programmeMembershipTisId: string): Signature {
    return { programmeMembershipTisId, signedAt: new Date(this.firstSignedAt + 1000 * this.nextSecond++).toISOString(), version: 'GG10' };
  }

  private storedCoj(pm: string): Promise<TisCoj | undefined> {
    return this.store ? this.store.tis.findCoj(pm) : Promise.resolve(undefined);
  }

  private jsonRequest(body: object): Request {
    return this.request(Buffer.from(JSON.stringify(body)), 'application/json');
  }

  private malformedRequest(kind: MalformedKind, s: Signature): Request {
    switch (kind) {
      case 'not JSON':
        return this.request(Buffer.from(JSON.stringify(cojEvent(s)).slice(0, 30)), 'application/json');
      case 'wrong content type':
        return this.request(Buffer.from(JSON.stringify(cojEvent(s))), 'text/plain');
      case 'missing fields':
        return this.jsonRequest({ programmeMembershipTisId: s.programmeMembershipTisId });
      case 'oversized':
        return this.jsonRequest({ ...cojEvent(s), padding: 'x'.repeat(OVERSIZED_PADDING_BYTES) });
    }
  }

  private request(content: Buffer, contentType: string): Request {
    const n = ++this.requests;
    // A correlationId unlike the messageId and unlike a workflow id, so only an echo of it matches.
    return { content, contentType, messageId: `tisw-conformance-${this.runId}-${n}`, correlationId: `tisw-conformance-${randomUUID()}` };
  }

  /** Publishes one request (confirmed, mandatory) and waits for its answer. */
  private async ask(request: Request): Promise<Answer> {
    this.sent.add(request.correlationId);
    await new Promise<void>((resolve, reject) => {
      this.channel.publish(
        '',
        this.options.queue,
        request.content,
        {
          persistent: true,
          mandatory: true,
          contentType: request.contentType,
          messageId: request.messageId,
          correlationId: request.correlationId,
          replyTo: this.replyQueue,
          type: 'coj.signed',
          headers: { [CONFORMANCE_HEADER]: this.runId },
        },
        (err: unknown) => {
          if (err) reject(new Error(`the broker nacked a conformance request to ${this.options.queue}`));
          // A return comes before the confirm of the same message.
          else if (this.returned.has(request.messageId)) reject(new Error(`queue ${this.options.queue} is gone: the broker returned a conformance request`));
          else resolve();
        },
      );
    });
    return this.answerTo(request.correlationId);
  }

  private received(message: ConsumeMessage): void {
    let body: unknown;
    try {
      body = JSON.parse(message.content.toString('utf8'));
    } catch {
      body = undefined;
    }
    const correlationId = typeof message.properties.correlationId === 'string' ? message.properties.correlationId : undefined;
    this.replies.push({ correlationId, body, taken: false });
    this.wake();
  }

  /**
   * The first reply not yet taken that carries this correlationId, or one carrying a correlationId never
   * sent (it cannot be anyone else's answer); replies to earlier requests arriving late are passed over.
   */
  private async answerTo(correlationId: string): Promise<Answer> {
    const deadline = Date.now() + this.options.replyTimeoutMs;
    for (;;) {
      const reply = this.replies.find((r) => !r.taken && (r.correlationId === correlationId || r.correlationId === undefined || !this.sent.has(r.correlationId)));
      if (reply) {
        reply.taken = true;
        return { kind: reply.correlationId === correlationId ? 'reply' : 'uncorrelated', reply };
      }
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'none' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Whether the receiver dead-lettered this request to <queue>.dead-letter (our receivers' convention), and why. */
  private async findDeadLettered(messageId: string): Promise<{ found: true; reason?: string } | { found: false; why: string }> {
    const queue = deadLetterQueue(this.options.queue);
    const taken = await this.takeDeadLettered((m) => m.properties.messageId === messageId);
    if (taken === undefined) return { found: false, why: `no ${queue} to look in` };
    const [m] = taken;
    if (!m) return { found: false, why: `not on ${queue}` };
    const reason = m.properties.headers?.[DEAD_LETTER_REASON_HEADER] as unknown;
    return { found: true, ...(reason !== undefined && { reason: String(reason) }) };
  }

  /**
   * Takes the messages `match` picks off <queue>.dead-letter and puts every other back as it was;
   * undefined when there is no such queue.
   */
  private async takeDeadLettered(match: (m: GetMessage) => boolean): Promise<GetMessage[] | undefined> {
    const queue = deadLetterQueue(this.options.queue);
    // A passive check of a missing queue closes its channel: a channel of its own.
    const channel = await this.connection.createChannel();
    channel.on('error', () => undefined);
    const taken: GetMessage[] = [];
    const others: GetMessage[] = [];
    try {
      try {
        await channel.checkQueue(queue);
      } catch {
        return undefined;
      }
      // Every message stays unacked until the end, so none is read twice; the bound keeps a huge queue from holding the run.
      for (let i = 0; i < 10_000; i++) {
        const m = await channel.get(queue, { noAck: false });
        if (!m) break;
        if (match(m)) {
          channel.ack(m);
          taken.push(m);
        } else others.push(m);
      }
      return taken;
    } finally {
      for (const m of others) channel.nack(m, false, true);
      await channel.close().catch(() => undefined);
    }
  }
}

async function openStore(target: MongoTarget): Promise<{ mongo: MongoStore; tis: TisStore }> {
  const mongo = await openMongo(target, 'tisw-conformance');
  return { mongo, tis: new TisStore(mongo.db) };
}

/** Refuses, before anything is sent, a queue that is missing or that nothing consumes. */
async function requireConsumer(connection: ChannelModel, queue: string): Promise<void> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    const { consumerCount } = await channel.checkQueue(queue).catch(() => {
      throw new Error(`queue ${queue} does not exist on this broker (AMQP_URL's vhost): is that the receiver's queue?`);
    });
    if (consumerCount === 0) throw new Error(`nothing consumes ${queue}: start the receiver first`);
  } finally {
    await channel.close().catch(() => undefined);
  }
}

function okFor(answer: Answer, s: Signature): boolean {
  if (answer.kind !== 'reply') return false;
  const parsed = cojReply.safeParse(answer.reply.body);
  return parsed.success && parsed.data.status === 'ok' && parsed.data.programmeMembershipTisId === s.programmeMembershipTisId && Date.parse(parsed.data.signedAt) === Date.parse(s.signedAt) && parsed.data.version === s.version;
}

function rejected(answer: Answer): boolean {
  if (answer.kind !== 'reply') return false;
  const parsed = cojReply.safeParse(answer.reply.body);
  return parsed.success && parsed.data.status === 'rejected';
}

/** What the contract says a reply means: the status and the job's fields (or the reason), in a fixed order. */
function contractFields(body: unknown): string {
  const b = (body ?? {}) as Record<string, unknown>;
  return JSON.stringify([b.status, b.programmeMembershipTisId, b.signedAt, b.version, b.reason]);
}

function describeSignature(s: Signature): string {
  return `${s.programmeMembershipTisId.slice(0, 8)}… signed ${s.signedAt} ${s.version}`;
}

function describeAnswer(answer: Answer, timeoutMs: number): string {
  if (answer.kind === 'none') return `no reply within ${timeoutMs / 1000} s`;
  const { reply } = answer;
  if (answer.kind === 'uncorrelated') return `a reply with correlationId ${reply.correlationId ?? '(none)'}, not the request's`;
  if (reply.body === undefined) return 'a reply that is not JSON';
  const parsed = cojReply.safeParse(reply.body);
  if (!parsed.success) return `a reply outside the contract: ${describeIssues(parsed.error)}`;
  if (parsed.data.status === 'rejected') return `rejected: ${parsed.data.reason}`;
  return `ok naming ${describeSignature(parsed.data)}`;
}

function describeStored(coj: TisCoj | undefined): string {
  return coj ? `signed ${coj.signedAt.toISOString()} ${coj.version}` : 'nothing';
}

function sameSignature(coj: TisCoj | undefined, s: Signature): boolean {
  return coj !== undefined && coj.signedAt.getTime() === Date.parse(s.signedAt) && coj.version === s.version;
}

/** A repeat that wrote the CoJ again shows in receivedAt: TIS's sync would copy it to TSS a second time. */
function describeSecondEffect(before: TisCoj | undefined, after: TisCoj | undefined): string | undefined {
  if (!before || !after) return `stored: ${describeStored(after)}`;
  if (before.signedAt.getTime() !== after.signedAt.getTime() || before.version !== after.version) return `stored changed to ${describeStored(after)}`;
  // A store written by another receiver may not keep receivedAt: then only the signature can be compared.
  const [was, now] = [before.receivedAt as Date | undefined, after.receivedAt as Date | undefined];
  if (was && now && was.getTime() !== now.getTime()) return `stored again: receivedAt moved from ${was.toISOString()} to ${now.toISOString()}`;
  return undefined;
}
