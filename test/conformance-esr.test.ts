/**
 * `tisw conformance esr` against live exporters on a broker vhost and ESR stores of this file's own (the
 * exporter's queue has one name and the file sequence is one counter per store): the reference ESR data
 * exporter (reply mode) passes every case and leaves no real record touched, and each deliberately broken
 * exporter (test/support/broken-esr-exporters.ts) fails the case meant for it, while the other cases still
 * say plainly what they saw. The command runs as an operator runs it: the built `tisw`, as a child process.
 */
import fs from 'node:fs';
import path from 'node:path';
import { connectAmqp } from '../src/adapters/amqp';
import { startEsrExporter, type EsrExporter } from '../src/receivers/esr-exporter';
import { MALFORMED_KINDS, type ConformanceReport } from '../src/client/conformance';
import { CONFORMANCE_RUN_YEARS, conformanceRunDate, ESR_CONFORMANCE_CASES as C } from '../src/client/conformance-esr';
import { dueWindow } from '../src/adapters/esr-store';
import { deadLetterQueue, QUEUES } from '../src/shared/amqp';
import { testLogger } from './support/system';
import { tisw } from './support/processes';
import { expectConformanceLeftNothing } from './support/conformance';
import { isolatedEsr, seedRecords, type IsolatedEsr } from './support/esr';
import { startBrokenEsrExporter, type EsrExporterFault } from './support/broken-esr-exporters';

const ALL_CASES = [C.firstCommand, C.repeat, C.filePerCommand, C.unknown, ...MALFORMED_KINDS.flatMap((k) => [C.malformed(k), C.validAfter(k)]), C.sequence, C.correlation];

/** Shown where the test run is echoed (LOG_LEVEL=debug), and for the record of what the table looks like. */
const echo = (text: string): void => {
  if (process.env.LOG_LEVEL === 'debug' || process.env.TISW_CONFORMANCE_ECHO) process.stdout.write(`${text}\n`);
};

const failing = (report: ConformanceReport): string[] => report.cases.filter((c) => !c.pass).map((c) => c.case);
const seen = (report: ConformanceReport, name: string): string => report.cases.find((c) => c.case === name)?.seen ?? `(no case ${name})`;

/** The table's rows (after its header and rule, up to the blank line before "left behind"), each as [case, marked FAIL]. */
function tableRows(stdout: string): Array<[string | undefined, boolean]> {
  const [table = ''] = stdout.split('\n\n');
  return table
    .trimEnd()
    .split('\n')
    .slice(2)
    .map((l) => [ALL_CASES.find((c) => l.startsWith(c)), l.endsWith('FAIL')]);
}

describe("the conformance run's date", () => {
  it('is a real day in the years 9000 to 9999 whose whole due window stays in them, whatever the random draw', () => {
    for (const random of [0, 1, 365_000, 0x7fffffff, 0xffffffff]) {
      const runDate = conformanceRunDate(random);
      const { from, before } = dueWindow(runDate);
      expect([runDate, from, before].map((d) => /^9\d{3}-\d{2}-\d{2}$/.test(d))).toEqual([true, true, true]);
      expect(new Date(`${runDate}T00:00:00Z`).toISOString().slice(0, 10)).toBe(runDate);
    }
    expect(conformanceRunDate(0)).toBe(`${CONFORMANCE_RUN_YEARS.from}-01-01`);
  });
});

describe('tisw conformance esr', () => {
  /** The reference exporter's vhost and store. */
  let esr: IsolatedEsr;
  /** The broken exporters' vhost and store: no unique index on appFiles.sequence, so a reused number can be recorded. */
  let broken: IsolatedEsr;

  beforeAll(async () => {
    esr = await isolatedEsr('conformance-esr');
    broken = await isolatedEsr('conformance-esr-broken');
    await broken.store.appFiles.dropIndex('sequence_unique');
  });
  afterAll(async () => {
    await esr?.close();
    await broken?.close();
  });

  async function conformance(on: IsolatedEsr, queue: string, extra: string[] = ['--store-uri', on.config.mongo.esr.uri]): Promise<{ code: number; report: ConformanceReport; stderr: string }> {
    const { code, stdout, stderr } = await tisw(['conformance', 'esr', '--queue', queue, '--reply-to-timeout', '1', '--json', ...extra], on.env);
    if (!stdout) throw new Error(`tisw conformance printed no report (exit ${code}): ${stderr}`);
    return { code, report: JSON.parse(stdout) as ConformanceReport, stderr };
  }

  describe('against the reference exporter in reply mode', () => {
    let exporter: EsrExporter;
    beforeAll(async () => {
      exporter = startEsrExporter({ amqpUrl: esr.config.amqp.url, store: esr.store, filesDir: esr.config.esr.filesDir, log: testLogger(esr.config), requeueDelayMs: 100 });
      await exporter.ready;
    });
    afterAll(async () => {
      await exporter.stop();
    });

    it('passes every case reading the store back; its files are marked, hold no record, and leave the real records, its reply queue and the dead letters alone', async () => {
      // Records a real run today would export: the conformance run must not.
      const today = new Date().toISOString().slice(0, 10);
      const real = await seedRecords(esr.store, 'EMD', today, { due: 3 });
      const { code, report } = await conformance(esr, QUEUES.esrAppFileCommand);
      expect(report.cases.map((c) => c.case)).toEqual(ALL_CASES);
      expect({ failing: failing(report), code, pass: report.pass, readBack: report.readBack }).toEqual({ failing: [], code: 0, pass: true, readBack: true });
      expect(seen(report, C.repeat)).toMatch(/; stored: one file$/);
      expect(seen(report, C.unknown)).toMatch(/^rejected: unknown deanery ZZZ.*; stored: no file$/);
      expect(seen(report, C.sequence)).toMatch(/^sequences (\d+, ){5}\d+ for 6 command\(s\); one appFile per sequence$/);

      const made = await esr.store.appFiles.find({ _id: { $regex: `^tisw-conformance-${report.runId}-cmd-` } }).sort({ sequence: 1 }).toArray();
      expect(made).toHaveLength(6);
      const [runDate] = new Set(made.map((f) => f.runDate));
      expect(new Set(made.map((f) => f.runDate)).size).toBe(1);
      expect(Number(runDate?.slice(0, 4))).toBeGreaterThanOrEqual(CONFORMANCE_RUN_YEARS.from);
      expect(Number(runDate?.slice(0, 4))).toBeLessThanOrEqual(CONFORMANCE_RUN_YEARS.to);
      // Gap-free in the order made, and empty: nothing is due in those years.
      const first = made[0]?.sequence ?? 0;
      expect(made.map((f) => [f.sequence, f.recordCount])).toEqual(made.map((_, i) => [first + i, 0]));
      for (const f of made) expect(fs.readFileSync(path.join(esr.config.esr.filesDir, f.fileName), 'utf8').trimEnd().split('\n').at(-1)).toBe('TRL|00000000');
      expect(report.leftBehind).toMatch(new RegExp(`made 6 file\\(s\\) for this run \\(commandIds tisw-conformance-${report.runId}-cmd-\\*, run date ${runDate}, sequences .*, 0 record\\(s\\) in them\\)`));
      expect(report.leftBehind).not.toMatch(/unanswered/);
      const realNow = await esr.store.records.find({ _id: { $in: real.due } }).toArray();
      expect(realNow.map((r) => r.status)).toEqual(['TO_EXPORT', 'TO_EXPORT', 'TO_EXPORT']);

      await expectConformanceLeftNothing(esr.config.amqp.url, QUEUES.esrAppFileCommand, report.runId);
    });

    it('passes by the replies alone without the store', async () => {
      const { code, report } = await conformance(esr, QUEUES.esrAppFileCommand, []);
      expect({ failing: failing(report), code, readBack: report.readBack }).toEqual({ failing: [], code: 0, readBack: false });
      expect(report.cases.find((c) => c.case === C.repeat)?.expected).toMatch(/by the reply alone/);
      expect(seen(report, C.repeat)).not.toMatch(/stored/);
    });

    it('with --dead-letter-queue, finds each malformed command there', async () => {
      const { code, report } = await conformance(esr, QUEUES.esrAppFileCommand, ['--dead-letter-queue', deadLetterQueue(QUEUES.esrAppFileCommand)]);
      expect({ failing: failing(report), code }).toEqual({ failing: [], code: 0 });
      for (const kind of MALFORMED_KINDS) {
        const c = report.cases.find((x) => x.case === C.malformed(kind));
        expect([kind, c?.expected, c?.seen]).toEqual([kind, `dead-lettered to ${deadLetterQueue(QUEUES.esrAppFileCommand)}`, expect.stringMatching(/^rejected: .*; dead-lettered to esr\.queue\.appfilegenerationcommand\.create\.dataexporter\.dead-letter: .+/)]);
      }
    });

    it('prints the table (case, expected, seen, pass), then what it left behind, and exits 0', async () => {
      const { code, stdout } = await tisw(['conformance', 'esr', '--queue', QUEUES.esrAppFileCommand, '--store-uri', esr.config.mongo.esr.uri, '--reply-to-timeout', '1'], esr.env);
      echo(`reference exporter:\n${stdout}`);
      expect(code).toBe(0);
      expect(stdout.split('\n')[0]).toMatch(/^case\s+expected\s+seen\s+pass$/);
      expect(tableRows(stdout)).toEqual(ALL_CASES.map((c) => [c, false]));
      expect(stdout.trimEnd().split('\n').at(-1)).toMatch(/^left behind: the exporter made 6 file\(s\) for this run/);
    });

    it('refuses a --dead-letter-queue that does not exist, and a --store-uri that is not a MongoDB URI', async () => {
      const missing = await tisw(['conformance', 'esr', '--queue', QUEUES.esrAppFileCommand, '--dead-letter-queue', `no.such.queue.${process.pid}`], esr.env);
      expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/--dead-letter-queue no\.such\.queue\.\d+ does not exist/)]);
      const badUri = await tisw(['conformance', 'esr', '--queue', QUEUES.esrAppFileCommand, '--store-uri', 'http://example.org/esr'], esr.env);
      expect([badUri.code, badUri.stderr]).toEqual([2, expect.stringMatching(/--store-uri/)]);
    });
  });

  describe('against broken exporters, each caught by the case meant for it', () => {
    async function against(fault: EsrExporterFault, extra: string[] = []): Promise<{ code: number; report: ConformanceReport; died: boolean }> {
      const exporter = await startBrokenEsrExporter(fault, { amqpUrl: broken.config.amqp.url, store: broken.store });
      let result: { code: number; report: ConformanceReport; died: boolean };
      try {
        result = { ...(await conformance(broken, exporter.queue, ['--store-uri', broken.config.mongo.esr.uri, ...extra])), died: exporter.died };
      } finally {
        await exporter.stop();
      }
      if (extra.length === 0) await tableAgainst(fault, result.report);
      return result;
    }

    /** The same run in table form, on a fresh exporter of the same fault: the failing cases marked FAIL, as in --json. */
    async function tableAgainst(fault: EsrExporterFault, report: ConformanceReport): Promise<void> {
      const exporter = await startBrokenEsrExporter(fault, { amqpUrl: broken.config.amqp.url, store: broken.store });
      try {
        const { code, stdout, stderr } = await tisw(['conformance', 'esr', '--queue', exporter.queue, '--store-uri', broken.config.mongo.esr.uri, '--reply-to-timeout', '1'], broken.env);
        echo(`${fault}:\n${stdout}`);
        expect([code, stderr]).toEqual([1, expect.stringMatching(/conformance case\(s\) failed/)]);
        expect(tableRows(stdout)).toEqual(ALL_CASES.map((c) => [c, failing(report).includes(c)]));
      } finally {
        await exporter.stop();
      }
    }

    it('one that makes a second file for a repeated commandId: only "same commandId again" fails, on the reply and on what the store shows', async () => {
      const { code, report } = await against('second-file-on-repeat');
      expect({ code, failing: failing(report) }).toEqual({ code: 1, failing: [C.repeat] });
      expect(seen(report, C.repeat)).toMatch(/^ok …cmd-1 EMD: \S+ sequence (\d+), 0 record\(s\) \(the first was \S+ sequence \d+\); stored: its appFile is now \S+ sequence \d+$/);
    });

    it('one that reuses a sequence number (a counter per deanery): only "sequence never reused" fails, naming the number and its files', async () => {
      const { code, report } = await against('sequence-per-deanery');
      expect({ code, failing: failing(report) }).toEqual({ code: 1, failing: [C.sequence] });
      expect(seen(report, C.sequence)).toMatch(/; sequence \d+ given to …cmd-\d+, …cmd-\d+.*; sequence \d+ held by DE_\w+\.DAT, DE_\w+\.DAT/);
    });

    it('one that never answers an unknown deanery: only "unknown deanery" fails, saying no reply came', async () => {
      const { code, report } = await against('silent-on-unknown-deanery');
      expect({ code, failing: failing(report) }).toEqual({ code: 1, failing: [C.unknown] });
      expect(seen(report, C.unknown)).toBe('no reply within 1 s; stored: no file');
    });

    it('one that dies on bad JSON: "malformed: not JSON" is the first to fail, and every request after it says no reply came', async () => {
      const { code, report, died } = await against('dies-on-bad-json');
      expect(died).toBe(true);
      expect(code).toBe(1);
      const notJson = ALL_CASES.indexOf(C.malformed('not JSON'));
      const lastRequest = ALL_CASES.indexOf(C.validAfter('oversized'));
      // Before it, everything passes; from it to the last request, everything fails; the two files it made had their own numbers, and its replies were correlated.
      expect(report.cases.map((c) => [c.case, c.pass])).toEqual(ALL_CASES.map((c, i) => [c, i < notJson || i > lastRequest]));
      expect(seen(report, C.malformed('not JSON'))).toMatch(/^no reply within 1 s; no \S+\.dead-letter to look in$/);
      for (const c of report.cases.slice(notJson + 1, lastRequest + 1)) expect([c.case, c.seen]).toEqual([c.case, expect.stringMatching(/^no reply within 1 s/)]);
      expect(seen(report, C.sequence)).toMatch(/^sequences \d+, \d+ for 2 command\(s\)/);
      expect(report.leftBehind).toMatch(/made 2 file\(s\) .*; 4 valid command\(s\) went unanswered/);
    });

    it('with --dead-letter-queue, one that only replies "rejected" to malformed commands fails each malformed case, which it passes without', async () => {
      const exporter = await startBrokenEsrExporter('second-file-on-repeat', { amqpUrl: broken.config.amqp.url, store: broken.store });
      const dlq = deadLetterQueue(exporter.queue);
      const connection = await connectAmqp({ url: broken.config.amqp.url, connectionName: 'test' });
      const channel = await connection.createChannel();
      await channel.assertQueue(dlq, { durable: false });
      try {
        const without = await conformance(broken, exporter.queue);
        const withFlag = await conformance(broken, exporter.queue, ['--dead-letter-queue', dlq]);
        const malformed = MALFORMED_KINDS.map((k) => C.malformed(k));
        expect(failing(without.report)).toEqual([C.repeat]);
        expect(failing(withFlag.report)).toEqual([C.repeat, ...malformed]);
        for (const name of malformed) expect([name, seen(withFlag.report, name)]).toEqual([name, expect.stringMatching(new RegExp(`^rejected: .*; not on ${dlq.replace(/\./g, '\\.')} within 1 s$`))]);
      } finally {
        await channel.deleteQueue(dlq);
        await connection.close();
        await exporter.stop();
      }
    });
  });

  it('refuses a broker that is not on this machine without --yes, naming the host and not the password', async () => {
    const refused = await tisw(['conformance', 'esr', '--queue', QUEUES.esrAppFileCommand], { ...esr.env, AMQP_URL: 'amqp://svc:hunter2@192.0.2.10:5672/tis' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/AMQP_URL names a broker on 192\.0\.2\.10, not this machine: conformance publishes test app-file commands to esr\.queue\.appfilegenerationcommand\.create\.dataexporter there; add --yes/);
    expect(refused.stderr).not.toContain('hunter2');
  });
});
