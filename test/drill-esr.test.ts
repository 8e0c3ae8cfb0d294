import fs from 'node:fs';
import path from 'node:path';
import { DRILL_COUNTER_BEFORE, DRILL_RUN_DATE, runEsrDrill, type DrillSideStore, type EsrDrillReport } from '../src/drills/esr-2021';
import { drillOwner } from '../src/drills/throwaway';
import { listVhosts } from '../src/local/rabbitmq';
import { DEANERIES } from '../src/shared/esr';
import { expectLocalOnly, leftOnTheStack, ownedOnTheStack } from './support/drill';
import { quietRuntime, testConfig, testLogger } from './support/system';
import { assertTestDatabase } from './support/test-database';

/** What a side's store and files directory hold, read by the test itself before the drill removes them. */
interface Held {
  /** Each .DAT file written, from its header and lines. */
  disk: Array<{ fileName: string; deanery: string; sequence: number; records: number }>;
  appFilesMade: number;
  toExport: Record<string, number>;
  counter: number;
}

async function held({ store, filesDir }: DrillSideStore): Promise<Held> {
  assertTestDatabase(store.db.databaseName);
  const disk = fs
    .readdirSync(filesDir)
    .filter((name) => name.endsWith('.DAT'))
    .map((fileName) => {
      const lines = fs.readFileSync(path.join(filesDir, fileName), 'utf8').trimEnd().split('\n');
      const [, , deanery = '', , sequence = ''] = (lines[0] ?? '').split('|');
      return { fileName, deanery, sequence: Number(sequence), records: lines.filter((l) => l.startsWith('APP|')).length };
    });
  const toExport: Record<string, number> = {};
  for (const deanery of DEANERIES) toExport[deanery] = await store.remainingDue(deanery, DRILL_RUN_DATE);
  return { disk, appFilesMade: await store.appFiles.countDocuments({ runDate: DRILL_RUN_DATE, status: 'made' }), toExport, counter: await store.counterValue() };
}

const day = DEANERIES.map((_, i) => DRILL_COUNTER_BEFORE + 1 + i);
const duplicates = (numbers: number[]): number[] => [...new Set(numbers.filter((n, i) => numbers.indexOf(n) !== i))].sort((a, b) => a - b);

describe('tisw drill esr-2021', () => {
  const config = testConfig();
  const log = testLogger(config);

  it('runs the day both ways on the local servers: 13 consecutive files through the lane, the old way as its store holds it, nothing left behind', async () => {
    quietRuntime(config);
    const seen: { oldWay?: Held; tisWorkflows?: Held } = {};
    const report: EsrDrillReport = await runEsrDrill(config, {
      log,
      inspect: async (sides) => {
        seen.oldWay = await held(sides.oldWay);
        seen.tisWorkflows = await held(sides.tisWorkflows);
      },
    });
    const { oldWay, tisWorkflows } = report;
    const [o, n] = [seen.oldWay as Held, seen.tisWorkflows as Held];

    // tis-workflows: 13 files, numbered 3754 to 3766 in the order made, nothing due left.
    expect(tisWorkflows).toMatchObject({ filesMade: 13, consecutive: true, duplicatedNumbers: [], missingNumbers: [], recordsLeftToExport: 0, deaneriesLeft: [], generationFailures: 0, counterAfter: DRILL_COUNTER_BEFORE + 13 });
    expect(tisWorkflows.files.map((f) => f.sequence)).toEqual(day);
    expect(tisWorkflows.files.map((f) => f.deanery)).toEqual([...DEANERIES]);
    expect(n.disk.map((f) => f.sequence).sort((a, b) => a - b)).toEqual(day);
    expect(Object.values(n.toExport).every((c) => c === 0)).toBe(true);

    // The old way: its report is what its store and its files say.
    expect(oldWay.files.map((f) => f.fileName).sort()).toEqual(o.disk.map((f) => f.fileName).sort());
    expect(oldWay.filesMade).toBe(o.appFilesMade);
    const numbers = o.disk.map((f) => f.sequence);
    expect(oldWay.duplicatedNumbers).toEqual(duplicates(numbers));
    expect(oldWay.missingNumbers).toEqual(day.filter((d) => !numbers.includes(d)));
    expect(oldWay.counterAfter).toBe(o.counter);
    expect(oldWay.recordsLeftToExport).toBe(Object.values(o.toExport).reduce((a, b) => a + b, 0));
    // Each command either made its file or failed for good, and a deanery without a file still has all its records due.
    expect(oldWay.filesMade + oldWay.generationFailures).toBe(13);
    const withFile = new Set(o.disk.map((f) => f.deanery));
    expect(oldWay.deaneriesLeft).toEqual(DEANERIES.filter((d) => !withFile.has(d)));
    for (const f of oldWay.failures) expect(f.reason).toMatch(/^WriteConflict \(112\)/);
    for (const f of o.disk) expect(f.records).toBe(oldWay.files.find((x) => x.fileName === f.fileName)?.recordCount);
    expect(oldWay.raced).toBe(oldWay.generationFailures > 0 || oldWay.duplicatedNumbers.length > 0);
    expect(oldWay.tookMs).toBeGreaterThan(0);
    expect(tisWorkflows.tookMs).toBeGreaterThan(0);

    // Nothing left behind: no vhost, database, namespace (not even one being reclaimed) or directory of the drill.
    expect(report.leftBehind).toEqual([]);
    expect(report.made).toMatchObject({ vhosts: [expect.any(String)], databases: [expect.any(String), expect.any(String)], namespaces: [expect.any(String)] });
    expect(await leftOnTheStack(report.made, config)).toEqual([]);
  }, 150_000);

  it('stopped half way through the lane (Ctrl-C is its abort signal), removes everything it had made', async () => {
    quietRuntime(config);
    const controller = new AbortController();
    const drill = runEsrDrill(config, {
      log,
      signal: controller.signal,
      progress: (label) => {
        if (label.startsWith('tis-workflows')) setTimeout(() => controller.abort(), 2000);
        return { tick: () => undefined, stop: () => undefined };
      },
    });
    await expect(drill).rejects.toThrow('interrupted (Ctrl-C): everything the drill had made was removed');
    // Nothing of this process's drills is left, by name.
    expect(await ownedOnTheStack('esr-2021', config)).toEqual([]);
  }, 120_000);

  it('refuses a broker, MongoDB or Temporal that is not on this machine, before it makes anything; the CLI exits 1 saying why', async () => {
    const vhostsBefore = await listVhosts();
    await expectLocalOnly('esr-2021', (cfg) => runEsrDrill(cfg, { log }), 'ESR_MONGODB_URI');
    expect((await listVhosts()).filter((v) => v.startsWith('tisw-drill-'))).toEqual(vhostsBefore.filter((v) => v.startsWith('tisw-drill-')));
  });

  it("reads the owner's pid from each kind of name it gives, so that the next drill sweeps what a killed one left", () => {
    expect(drillOwner('esr-2021', 'tisw-drill-esr-2021-4711-a1b2')).toBe(4711);
    expect(drillOwner('esr-2021', 'tisw_test_123_ab_drill_esr_2021_4711_a1b2_old')).toBe(4711);
    expect(drillOwner('esr-2021', 'tisw-drill-esr-2021-4711-a1b2-Xy12Zq')).toBe(4711);
    expect(drillOwner('esr-2021', 'tisw-drill-esr-2021-4711-a1b2-deleted-0f3e1')).toBe(4711);
    for (const other of ['tisw-test-1728-mxcoab5u-w1', 'tisw_test_1728_mxcoab5u', 'tisw-drill-coj-2023-4711-a1b2', 'tisw-drill-esr-2021']) expect(drillOwner('esr-2021', other)).toBeUndefined();
  });
});
