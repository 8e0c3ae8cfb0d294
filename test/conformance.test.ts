/**
 * `tisw conformance coj` against live receivers on the run's broker and store: the reference TIS CoJ
 * receiver (reply mode) passes every case, and each deliberately broken receiver
 * (test/support/broken-coj-receivers.ts) fails the case meant for it, while the other cases still say
 * plainly what they saw. The command runs as an operator runs it: the built `tisw`, as a child process.
 */
import { randomUUID } from 'node:crypto';
import { openMongo, type MongoStore } from '../src/adapters/mongo';
import { TisStore } from '../src/adapters/tis-store';
import { connectAmqp } from '../src/adapters/amqp';
import { startCojReceiver } from '../src/receivers/coj-receiver';
import type { Consumer } from '../src/adapters/amqp-consumer';
import { MALFORMED_KINDS, type ConformanceReport } from '../src/client/conformance';
import { COJ_CONFORMANCE_CASES as C } from '../src/client/conformance-coj';
import { deadLetterQueue, QUEUES } from '../src/shared/amqp';
import { testConfig, testLogger } from './support/system';
import { tisw } from './support/processes';
import { expectConformanceLeftNothing } from './support/conformance';
import { startBrokenCojReceiver, type CojReceiverFault } from './support/broken-coj-receivers';

const ALL_CASES = [C.firstDelivery, C.repeat, C.olderAfterNewer, C.unknown, ...MALFORMED_KINDS.flatMap((k) => [C.malformed(k), C.validAfter(k)]), C.correlation];

/** Shown where the test run is echoed (LOG_LEVEL=debug), and for the record of what the table looks like. */
const echo = (text: string): void => {
  if (process.env.LOG_LEVEL === 'debug' || process.env.TISW_CONFORMANCE_ECHO) process.stdout.write(`${text}\n`);
};

describe('tisw conformance coj', () => {
  const config = testConfig();
  let mongo: MongoStore;
  let tis: TisStore;

  beforeAll(async () => {
    mongo = await openMongo(config.mongo.tis, 'test');
    tis = new TisStore(mongo.db);
  });
  afterAll(async () => {
    await mongo.close();
  });

  async function conformance(queue: string, extra: string[] = ['--store-uri', config.mongo.tis.uri]): Promise<{ code: number; report: ConformanceReport; stderr: string }> {
    const { code, stdout, stderr } = await tisw(['conformance', 'coj', '--queue', queue, '--reply-to-timeout', '1', '--json', ...extra]);
    if (!stdout) throw new Error(`tisw conformance printed no report (exit ${code}): ${stderr}`);
    return { code, report: JSON.parse(stdout) as ConformanceReport, stderr };
  }

  const failing = (report: ConformanceReport): string[] => report.cases.filter((c) => !c.pass).map((c) => c.case);
  const seen = (report: ConformanceReport, name: string): string => report.cases.find((c) => c.case === name)?.seen ?? `(no case ${name})`;

  describe('against the reference receiver in reply mode', () => {
    let receiver: Consumer;
    beforeAll(async () => {
      receiver = startCojReceiver({ amqpUrl: config.amqp.url, tisStore: tis, log: testLogger(config) });
      await receiver.ready;
    });
    afterAll(async () => {
      await receiver.stop();
    });

    it('passes every case, reading the store back, and leaves behind neither its programme memberships, its reply queue nor its dead letters', async () => {
      const { code, report } = await conformance(QUEUES.cojSigned);
      expect(report.cases.map((c) => c.case)).toEqual(ALL_CASES);
      expect({ failing: failing(report), code, pass: report.pass, readBack: report.readBack }).toEqual({ failing: [], code: 0, pass: true, readBack: true });
      expect(seen(report, C.repeat)).toMatch(/stored once/);
      expect(seen(report, C.unknown)).toMatch(/^rejected: unknown programme membership/);
      expect(await tis.programmeMemberships.countDocuments({ personId: `tisw-conformance-${report.runId}` })).toBe(0);
      await expectConformanceLeftNothing(config.amqp.url, QUEUES.cojSigned, report.runId);
    });

    it('passes by the replies alone, given a programme membership the receiver knows instead of its store', async () => {
      const pm = randomUUID();
      await tis.addProgrammeMembership(pm, '4711');
      const { code, report } = await conformance(QUEUES.cojSigned, ['--programme-membership', pm]);
      expect({ failing: failing(report), code, readBack: report.readBack }).toEqual({ failing: [], code: 0, readBack: false });
      expect(report.cases.find((c) => c.case === C.repeat)?.expected).toMatch(/by the reply alone/);
    });

    it('with --dead-letter-queue, finds each malformed CoJ there', async () => {
      const { code, report } = await conformance(QUEUES.cojSigned, ['--store-uri', config.mongo.tis.uri, '--dead-letter-queue', deadLetterQueue(QUEUES.cojSigned)]);
      expect({ failing: failing(report), code }).toEqual({ failing: [], code: 0 });
      for (const kind of MALFORMED_KINDS) {
        const c = report.cases.find((x) => x.case === C.malformed(kind));
        expect([kind, c?.expected, c?.seen]).toEqual([kind, `dead-lettered to ${deadLetterQueue(QUEUES.cojSigned)}`, expect.stringMatching(/^rejected: .*; dead-lettered to trainee\.queue\.coj\.signed\.tcs\.dead-letter: .+/)]);
      }
    });

    it('prints the table (case, expected, seen, pass) and exits 0', async () => {
      const { code, stdout } = await tisw(['conformance', 'coj', '--queue', QUEUES.cojSigned, '--store-uri', config.mongo.tis.uri, '--reply-to-timeout', '1']);
      echo(`reference receiver:\n${stdout}`);
      expect(code).toBe(0);
      const lines = stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^case\s+expected\s+seen\s+pass$/);
      expect(lines.slice(2).map((l) => [ALL_CASES.find((c) => l.startsWith(c)), l.endsWith('pass')])).toEqual(ALL_CASES.map((c) => [c, true]));
    });
  });

  describe('against broken receivers, each caught by the case meant for it', () => {
    async function against(fault: CojReceiverFault): Promise<{ code: number; report: ConformanceReport; died: boolean }> {
      const receiver = await startBrokenCojReceiver(fault, { amqpUrl: config.amqp.url, tis });
      let result: { code: number; report: ConformanceReport; died: boolean };
      try {
        result = { ...(await conformance(receiver.queue)), died: receiver.died };
      } finally {
        await receiver.stop();
      }
      // After stop(): its queue is gone with what is left on it (the message that killed one), so the next receiver starts clean.
      await tableAgainst(fault, result.report);
      return result;
    }

    /** The same run in table form, on a fresh receiver of the same fault: the failing cases marked FAIL, as in --json. */
    async function tableAgainst(fault: CojReceiverFault, report: ConformanceReport): Promise<void> {
      const receiver = await startBrokenCojReceiver(fault, { amqpUrl: config.amqp.url, tis });
      try {
        const { code, stdout, stderr } = await tisw(['conformance', 'coj', '--queue', receiver.queue, '--store-uri', config.mongo.tis.uri, '--reply-to-timeout', '1']);
        echo(`${fault}:\n${stdout}`);
        expect([code, stderr]).toEqual([1, expect.stringMatching(/conformance case\(s\) failed/)]);
        const rows = stdout.trimEnd().split('\n').slice(2);
        expect(rows.map((l) => [ALL_CASES.find((c) => l.startsWith(c)), l.endsWith('FAIL')])).toEqual(ALL_CASES.map((c) => [c, failing(report).includes(c)]));
      } finally {
        await receiver.stop();
      }
    }

    it('one that stores a repeat again: only "same message again" fails, on what the store shows', async () => {
      const { code, report } = await against('stores-twice');
      expect({ code, failing: failing(report) }).toEqual({ code: 1, failing: [C.repeat] });
      // Its reply to the repeat is the same: only the read-back catches it.
      expect(seen(report, C.repeat)).toMatch(/^ok naming .*; stored again: receivedAt moved from \S+ to \S+$/);
    });

    it('one that never answers an unknown programme membership: only "unknown programme membership" fails, saying no reply came', async () => {
      const { code, report } = await against('silent-on-unknown');
      expect({ code, failing: failing(report) }).toEqual({ code: 1, failing: [C.unknown] });
      expect(seen(report, C.unknown)).toBe('no reply within 1 s');
    });

    it('one that dies on bad JSON: "malformed: not JSON" is the first to fail, and every request after it says no reply came', async () => {
      const { code, report, died } = await against('dies-on-bad-json');
      expect(died).toBe(true);
      expect(code).toBe(1);
      const notJson = ALL_CASES.indexOf(C.malformed('not JSON'));
      const results = report.cases.map((c) => [c.case, c.pass]);
      // Before it, everything passes; from it to the last request, everything fails; the replies it did send were correlated.
      expect(results).toEqual(ALL_CASES.map((c, i) => [c, i < notJson || c === C.correlation]));
      expect(seen(report, C.malformed('not JSON'))).toMatch(/^no reply within 1 s; no \S+\.dead-letter to look in$/);
      for (const c of report.cases.slice(notJson + 1, -1)) expect([c.case, c.seen]).toEqual([c.case, expect.stringMatching(/^no reply within 1 s/)]);
    });
  });

  it('with --dead-letter-queue, a receiver that only replies "rejected" to malformed CoJs fails each malformed case, which it passes without', async () => {
    const receiver = await startBrokenCojReceiver('stores-twice', { amqpUrl: config.amqp.url, tis });
    const dlq = deadLetterQueue(receiver.queue);
    const connection = await connectAmqp({ url: config.amqp.url, connectionName: 'test' });
    const channel = await connection.createChannel();
    await channel.assertQueue(dlq, { durable: false });
    try {
      const without = await conformance(receiver.queue);
      const withFlag = await conformance(receiver.queue, ['--store-uri', config.mongo.tis.uri, '--dead-letter-queue', dlq]);
      const malformed = MALFORMED_KINDS.map((k) => C.malformed(k));
      expect(failing(without.report)).toEqual([C.repeat]);
      expect(failing(withFlag.report)).toEqual([C.repeat, ...malformed]);
      for (const name of malformed) expect([name, seen(withFlag.report, name)]).toEqual([name, expect.stringMatching(new RegExp(`^rejected: .*; not on ${dlq.replace(/\./g, '\\.')} within 1 s$`))]);
    } finally {
      await channel.deleteQueue(dlq);
      await connection.close();
      await receiver.stop();
    }
  });

  describe('refusals', () => {
    it('refuses a broker that is not on this machine without --yes, naming the host and not the password', async () => {
      const remote = 'amqp://svc:hunter2@192.0.2.10:5672/tis';
      const refused = await tisw(['conformance', 'coj', '--queue', QUEUES.cojSigned, '--store-uri', config.mongo.tis.uri], { AMQP_URL: remote });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/AMQP_URL names a broker on 192\.0\.2\.10, not this machine: .*add --yes/);
      expect(refused.stderr).not.toContain('hunter2');
      // With --yes it goes on, and fails only at connecting (nothing listens there).
      const confirmed = await tisw(['conformance', 'coj', '--queue', QUEUES.cojSigned, '--store-uri', config.mongo.tis.uri, '--yes'], { AMQP_URL: remote });
      expect(confirmed.code).toBe(1);
      expect(confirmed.stderr).not.toMatch(/--yes/);
    });

    it('says so when the queue does not exist or nothing consumes it, and when it has nothing to test with', async () => {
      const missing = await tisw(['conformance', 'coj', '--queue', `no.such.queue.${process.pid}`, '--store-uri', config.mongo.tis.uri]);
      expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/queue no\.such\.queue\.\d+ does not exist/)]);
      // No receiver runs in this block: the reference one was stopped.
      const idle = await tisw(['conformance', 'coj', '--queue', QUEUES.cojSigned, '--store-uri', config.mongo.tis.uri]);
      expect([idle.code, idle.stderr]).toEqual([1, expect.stringMatching(/nothing consumes trainee\.queue\.coj\.signed\.tcs: start the receiver first/)]);
      const neither = await tisw(['conformance', 'coj', '--queue', QUEUES.cojSigned]);
      expect([neither.code, neither.stderr]).toEqual([2, expect.stringMatching(/--store-uri.*--programme-membership/)]);
      const badTimeout = await tisw(['conformance', 'coj', '--queue', QUEUES.cojSigned, '--reply-to-timeout', '0']);
      expect(badTimeout.code).toBe(2);
    });
  });
});
