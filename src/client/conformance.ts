/**
 * `tisw conformance coj|esr`: the reply contract (how-it-works.md, "The acknowledgement contract") as an
 * executable test of someone else's receiver, before it carries real messages. What both jobs share lives
 * here: the refusals, the run's marked requests, the reply queue, waiting for an answer, the dead-letter
 * look-up, the malformed kinds and the correlation case, and the report. Each job's cases are in its own
 * file (conformance-coj.ts, conformance-esr.ts).
 *
 * A run drives the live receiver through its queue, one request at a time, and checks case by case what
 * comes back to a reply queue of its own (private, exclusive, auto-delete: nobody else's replies reach it,
 * and it goes when the run does). Every request is marked as a test: the header x-tisw-conformance names
 * the run and messageIds start `tisw-conformance-<run id>-`.
 *
 * Requests go one at a time: a reply that arrives while a case waits is that case's answer, or, if it
 * carries a correlationId the run never sent (or none), evidence that the receiver does not echo it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage } from 'amqplib';
import type { z } from 'zod';
import { connectAmqp } from '../adapters/amqp';
import { DEAD_LETTER_REASON_HEADER, deadLetterQueue } from '../shared/amqp';
import { InvalidInputError } from '../shared/errors';
import { describeIssues } from '../shared/messages';
import { LOCAL_HOSTS } from '../local/ports';

/** Header on every request of a run, naming the run: a receiver or an operator can tell test traffic apart. */
export const CONFORMANCE_HEADER = 'x-tisw-conformance';

/** The prefix of every id a run makes up (messageIds, and the ESR run's commandIds): `tisw-conformance-<run id>-`. */
export const conformanceIdPrefix = (runId: string): string => `tisw-conformance-${runId}-`;

export const MALFORMED_KINDS = ['not JSON', 'wrong content type', 'missing fields', 'oversized'] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

/** The case names both jobs have, as the table and --json show them: scripts and tests rely on them. */
export const SHARED_CONFORMANCE_CASES = {
  malformed: (kind: MalformedKind) => `malformed: ${kind}`,
  correlation: 'replies carry correlationId to replyTo',
} as const;

export interface ConformanceCase {
  case: string;
  expected: string;
  seen: string;
  pass: boolean;
}

export interface ConformanceReport {
  job: 'coj' | 'esr';
  queue: string;
  /** Marks every request of this run (header x-tisw-conformance, messageIds). */
  runId: string;
  /** Whether stored effects were read back from the receiver's store, or judged by the replies alone. */
  readBack: boolean;
  pass: boolean;
  cases: ConformanceCase[];
  /** What the run left in the receiver's store, for the operator (absent when it left nothing). */
  leftBehind?: string;
}

/** What every run is given, whatever the job. */
export interface ConformanceOptions {
  amqpUrl: string;
  /** The receiver's queue. */
  queue: string;
  /** How long each request waits for its reply. */
  replyTimeoutMs: number;
  /**
   * Where the receiver dead-letters what it can never take. Given, each malformed case passes only once
   * its message is there (a rejection alone is not enough); absent, a rejection passes, and so does the
   * message on <queue>.dead-letter (our receivers' convention).
   */
  deadLetterQueue?: string;
  /** The operator said yes to a broker that is not on this machine (a real receiver's queue). */
  remoteBrokerConfirmed?: boolean;
}

/** What a job tells the shared run: its requests' AMQP type, what they are (for messages) and how its replies read. */
export interface ConformanceJob<Ok> {
  job: ConformanceReport['job'];
  /** For the refusal of a remote broker: "test CoJs". */
  requests: string;
  /** The AMQP `type` of its requests, as our publishers set it. */
  messageType: string;
  /** The reply schema tis-workflows' listener applies (shared/messages.ts). */
  replySchema: z.ZodType<{ status: 'ok' } | { status: 'rejected'; reason: string }>;
  /** One line for an `ok` reply (already parsed by the schema). */
  describeOk(ok: Ok): string;
}

/** Bigger than any receiver should take (ours take up to 256 KiB). */
const OVERSIZED_PADDING_BYTES = 300 * 1024;
/** How often a dead-letter queue is looked at while a case waits for its message to arrive there. */
const DEAD_LETTER_POLL_MS = 200;

/** Whether an AMQP URL names this machine: 127.0.0.0/8, ::1 or localhost. */
export function isLocalBroker(amqpUrl: string): boolean {
  const host = new URL(amqpUrl).hostname.replace(/^\[|\]$/g, '');
  return LOCAL_HOSTS.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Refuses a remote broker without the operator's yes, opens the run, hands it to the job's cases, and
 * closes it (its reply queue, its own dead letters) whatever happens.
 */
export async function runConformance<Ok>(
  options: ConformanceOptions,
  job: ConformanceJob<Ok>,
  cases: (run: ConformanceRun<Ok>) => Promise<{ readBack: boolean; cases: ConformanceCase[]; leftBehind?: string }>,
): Promise<ConformanceReport> {
  if (!isLocalBroker(options.amqpUrl) && !options.remoteBrokerConfirmed) {
    // Only the host: the URL may hold a password.
    throw new InvalidInputError(`AMQP_URL names a broker on ${new URL(options.amqpUrl).hostname}, not this machine: conformance publishes ${job.requests} to ${options.queue} there; add --yes if that receiver is meant for it`);
  }
  const run = await ConformanceRun.open(options, job);
  try {
    const result = await cases(run);
    return {
      job: job.job,
      queue: options.queue,
      runId: run.runId,
      readBack: result.readBack,
      pass: result.cases.every((c) => c.pass),
      cases: result.cases,
      ...(result.leftBehind !== undefined && { leftBehind: result.leftBehind }),
    };
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

export type Answer = { kind: 'reply'; reply: Reply } | { kind: 'uncorrelated'; reply: Reply } | { kind: 'none' };

export interface Request {
  content: Buffer;
  contentType: string;
  messageId: string;
  correlationId: string;
}

export class ConformanceRun<Ok> {
  private readonly replies: Reply[] = [];
  /** Every correlationId sent: a reply carrying another (or none) did not echo its request's. */
  private readonly sent = new Set<string>();
  private wake: () => void = () => undefined;
  private requests = 0;

  private constructor(
    readonly options: ConformanceOptions,
    private readonly job: ConformanceJob<Ok>,
    readonly runId: string,
    private readonly connection: ChannelModel,
    private readonly channel: ConfirmChannel,
    private readonly replyQueue: string,
    private readonly returned: Set<string>,
  ) {}

  static async open<Ok>(options: ConformanceOptions, job: ConformanceJob<Ok>): Promise<ConformanceRun<Ok>> {
    const runId = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
    const connection = await connectAmqp({ url: options.amqpUrl, connectionName: `tisw-conformance-${runId}` });
    try {
      await requireConsumer(connection, options.queue);
      if (options.deadLetterQueue !== undefined) await requireQueue(connection, options.deadLetterQueue, '--dead-letter-queue');
      const channel = await connection.createConfirmChannel();
      const returned = new Set<string>();
      channel.on('return', (m: ConsumeMessage) => returned.add(String(m.properties.messageId)));
      const replyQueue = `tisw.queue.conformance.reply.${runId}`;
      await channel.assertQueue(replyQueue, { exclusive: true, autoDelete: true, durable: false });
      const run = new ConformanceRun(options, job, runId, connection, channel, replyQueue, returned);
      await channel.consume(replyQueue, (m) => m && run.received(m), { noAck: true });
      return run;
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    // The receiver may dead-letter a malformed request and reply to it too (ours do): the run's test
    // messages are its own to remove, so that an operator reading the dead-letter queue sees only real ones.
    await this.takeDeadLettered((m) => m.properties.headers?.[CONFORMANCE_HEADER] === this.runId).catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }

  /** The dead-letter queue the malformed cases look in. */
  get deadLetterQueue(): string {
    return this.options.deadLetterQueue ?? deadLetterQueue(this.options.queue);
  }

  jsonRequest(body: object): Request {
    return this.request(Buffer.from(JSON.stringify(body)), 'application/json');
  }

  /** A malformed request of this kind, made from a valid body and one with fields missing. */
  malformedRequest(kind: MalformedKind, valid: object, missingFields: object): Request {
    switch (kind) {
      case 'not JSON':
        return this.request(Buffer.from(JSON.stringify(valid).slice(0, 30)), 'application/json');
      case 'wrong content type':
        return this.request(Buffer.from(JSON.stringify(valid)), 'text/plain');
      case 'missing fields':
        return this.jsonRequest(missingFields);
      case 'oversized':
        return this.jsonRequest({ ...valid, padding: 'x'.repeat(OVERSIZED_PADDING_BYTES) });
    }
  }

  private request(content: Buffer, contentType: string): Request {
    const n = ++this.requests;
    // A correlationId unlike the messageId and unlike a workflow id, so only an echo of it matches.
    return { content, contentType, messageId: `${conformanceIdPrefix(this.runId)}${n}`, correlationId: `tisw-conformance-${randomUUID()}` };
  }

  /** Publishes one request (confirmed, mandatory) and waits for its answer. */
  async ask(request: Request): Promise<Answer> {
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
          type: this.job.messageType,
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

  /** The answer's `ok` body, read by the job's reply schema; undefined for anything else. */
  ok(answer: Answer): Ok | undefined {
    if (answer.kind !== 'reply') return undefined;
    const parsed = this.job.replySchema.safeParse(answer.reply.body);
    return parsed.success && parsed.data.status === 'ok' ? (parsed.data as Ok) : undefined;
  }

  rejected(answer: Answer): boolean {
    if (answer.kind !== 'reply') return false;
    const parsed = this.job.replySchema.safeParse(answer.reply.body);
    return parsed.success && parsed.data.status === 'rejected';
  }

  describe(answer: Answer): string {
    if (answer.kind === 'none') return `no reply within ${this.options.replyTimeoutMs / 1000} s`;
    const { reply } = answer;
    if (answer.kind === 'uncorrelated') return `a reply with correlationId ${reply.correlationId ?? '(none)'}, not the request's`;
    if (reply.body === undefined) return 'a reply that is not JSON';
    const parsed = this.job.replySchema.safeParse(reply.body);
    if (!parsed.success) return `a reply outside the contract: ${describeIssues(parsed.error)}`;
    if (parsed.data.status === 'rejected') return `rejected: ${parsed.data.reason}`;
    return `ok ${this.job.describeOk(parsed.data as Ok)}`;
  }

  /**
   * Sends one malformed request and judges the receiver's refusal: with --dead-letter-queue, it must
   * arrive there (waiting up to the reply timeout after the answer, since a receiver may reply first);
   * without, a rejection passes, and so does the message on <queue>.dead-letter.
   */
  async malformedCase(kind: MalformedKind, request: Request): Promise<ConformanceCase> {
    const answer = await this.ask(request);
    const name = SHARED_CONFORMANCE_CASES.malformed(kind);
    const queue = this.deadLetterQueue;
    if (this.options.deadLetterQueue !== undefined) {
      const deadLetter = await this.findDeadLettered(request.messageId, Date.now() + this.options.replyTimeoutMs);
      return {
        case: name,
        expected: `dead-lettered to ${queue}`,
        seen: `${this.describe(answer)}; ${deadLetter.found ? describeDeadLetter(queue, deadLetter.reason) : deadLetter.why}`,
        pass: deadLetter.found,
      };
    }
    const deadLetter = answer.kind === 'none' ? await this.findDeadLettered(request.messageId, Date.now()) : undefined;
    return {
      case: name,
      expected: 'rejected with a reason, or dead-lettered',
      seen: deadLetter?.found ? describeDeadLetter(queue, deadLetter.reason) : `${this.describe(answer)}${deadLetter ? `; ${deadLetter.why}` : ''}`,
      pass: this.rejected(answer) || deadLetter?.found === true,
    };
  }

  /** Every reply of the run came to its replyTo, with its request's correlationId. */
  correlationCase(): ConformanceCase {
    const foreign = this.replies.filter((r) => r.correlationId === undefined || !this.sent.has(r.correlationId));
    return {
      case: SHARED_CONFORMANCE_CASES.correlation,
      expected: "every reply on replyTo with its request's correlationId",
      seen: this.replies.length === 0 ? 'no reply at all' : `${this.replies.length - foreign.length} of ${this.replies.length} replies carried a correlationId the run sent${foreign.length ? `; others: ${foreign.slice(0, 3).map((r) => r.correlationId ?? '(none)').join(', ')}` : ''}`,
      pass: this.replies.length > 0 && foreign.length === 0,
    };
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

  /** Whether the receiver dead-lettered this request to the run's dead-letter queue by `until` (epoch ms), and why. */
  private async findDeadLettered(messageId: string, until: number): Promise<{ found: true; reason?: string } | { found: false; why: string }> {
    const queue = this.deadLetterQueue;
    for (;;) {
      const taken = await this.takeDeadLettered((m) => m.properties.messageId === messageId);
      if (taken === undefined) return { found: false, why: `no ${queue} to look in` };
      const [m] = taken;
      if (m) {
        const reason = m.properties.headers?.[DEAD_LETTER_REASON_HEADER] as unknown;
        return { found: true, ...(reason !== undefined && { reason: String(reason) }) };
      }
      if (Date.now() >= until) return { found: false, why: this.options.deadLetterQueue !== undefined ? `not on ${queue} within ${this.options.replyTimeoutMs / 1000} s` : `not on ${queue}` };
      await new Promise((resolve) => setTimeout(resolve, DEAD_LETTER_POLL_MS));
    }
  }

  /**
   * Takes the messages `match` picks off the dead-letter queue and puts every other back as it was;
   * undefined when there is no such queue.
   */
  private async takeDeadLettered(match: (m: GetMessage) => boolean): Promise<GetMessage[] | undefined> {
    const queue = this.deadLetterQueue;
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

function describeDeadLetter(queue: string, reason: string | undefined): string {
  return `dead-lettered to ${queue}${reason ? `: ${reason}` : ''}`;
}

/** Refuses, before anything is sent, a queue that is missing or that nothing consumes. */
async function requireConsumer(connection: ChannelModel, queue: string): Promise<void> {
  const consumerCount = await requireQueue(connection, queue);
  if (consumerCount === 0) throw new Error(`nothing consumes ${queue}: start the receiver first`);
}

/** The queue's consumer count; throws, naming it (and the flag that named it), when it does not exist. */
async function requireQueue(connection: ChannelModel, queue: string, flag?: string): Promise<number> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    const { consumerCount } = await channel.checkQueue(queue).catch(() => {
      throw new Error(flag ? `${flag} ${queue} does not exist on this broker (AMQP_URL's vhost): name the queue the receiver dead-letters into` : `queue ${queue} does not exist on this broker (AMQP_URL's vhost): is that the receiver's queue?`);
    });
    return consumerCount;
  } finally {
    await channel.close().catch(() => undefined);
  }
}
