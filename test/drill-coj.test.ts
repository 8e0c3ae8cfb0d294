import { runCojDrill, type CojDrillReport } from '../src/drills/coj-2023';
import { drillOwner } from '../src/drills/throwaway';
import { tisw } from './support/processes';
import { expectLocalOnly, leftOnTheStack, ownedOnTheStack } from './support/drill';
import { quietRuntime, testConfig, testLogger } from './support/system';

describe('tisw drill coj-2023', () => {
  const config = testConfig();
  const log = testLogger(config);

  it('on a private broker in a memory alarm with no consumer: the old way loses CoJs unalerted, tis-workflows alerts and delivers every one, and nothing is left behind (the CLI, --json)', async () => {
    const run = await tisw(['drill', 'coj-2023', '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as CojDrillReport;
    expect(report.drill).toBe('coj-2023');
    const { oldWay, tisWorkflows } = report;

    // The same CoJs on both sides.
    expect(oldWay.signed).toBeGreaterThan(0);
    expect(tisWorkflows.signed).toBe(oldWay.signed);

    // The old way: CoJs lost by the blocked connection's reset, not on their way any more, and nothing said so.
    expect(oldWay.lost.length).toBeGreaterThanOrEqual(1);
    expect(oldWay.reachedTis + oldWay.lost.length).toBe(oldWay.signed);
    expect(oldWay.stillQueued).toBe(0);
    expect(oldWay.firstAlert).toBeNull();
    expect(oldWay.alerts).toEqual([]);
    expect(oldWay.publishes).toBe(oldWay.signed);

    // tis-workflows: every CoJ in TIS's store with its signature, every run acknowledged, and the trouble alerted.
    expect(tisWorkflows.lost).toEqual([]);
    expect(tisWorkflows.reachedTis).toBe(tisWorkflows.signed);
    expect(tisWorkflows.acknowledged).toBe(tisWorkflows.signed);
    expect(tisWorkflows.stillQueued).toBe(0);
    expect(tisWorkflows.firstAlert).not.toBeNull();
    expect(['broker-blocked', 'queue-idle', 'coj-late']).toContain(tisWorkflows.firstAlert?.kind);
    expect(tisWorkflows.alerts.some((a) => a.kind === 'broker-blocked' && !a.resolved)).toBe(true);
    // Publishes failed while the broker blocked them (no confirm in time), and were made again.
    expect(tisWorkflows.publishFailure).toMatch(/no confirm/);
    expect(tisWorkflows.publishes).toBeGreaterThan(tisWorkflows.signed);
    expect(tisWorkflows.lastReachedTisAtMs).not.toBeNull();

    // Nothing left behind: no private node, database, namespace (not even one being reclaimed) or directory.
    expect(report.leftBehind).toEqual([]);
    expect(report.made).toMatchObject({ nodes: [expect.any(String)], databases: [expect.any(String), expect.any(String)], namespaces: [expect.any(String)] });
    expect(await leftOnTheStack(report.made, config)).toEqual([]);
  }, 180_000);

  it("in synced mode (TIS as it runs today, `tisw up`'s default): every CoJ reaches TIS and is acknowledged by TIS's sync back to TSS", async () => {
    quietRuntime(config);
    const report = await runCojDrill({ ...config, coj: { ...config.coj, acknowledgement: 'synced' } }, { log });
    expect(report.tisWorkflows).toMatchObject({ acknowledgement: 'synced', lost: [], stillQueued: 0 });
    expect(report.tisWorkflows.acknowledged).toBe(report.tisWorkflows.signed);
    expect(report.tisWorkflows.firstAlert).not.toBeNull();
    expect(report.oldWay.lost.length).toBeGreaterThanOrEqual(1);
    expect(report.leftBehind).toEqual([]);
    expect(await leftOnTheStack(report.made, config)).toEqual([]);
  }, 180_000);

  it('stopped while the alarm holds (Ctrl-C is its abort signal), removes everything it had made, the private node too', async () => {
    quietRuntime(config);
    const controller = new AbortController();
    let ticks = 0;
    const drill = runCojDrill(config, {
      log,
      signal: controller.signal,
      progress: () => ({
        tick: () => {
          if (++ticks === 2) controller.abort(); // the alarm raised, the CoJs about to be signed
        },
        stop: () => undefined,
      }),
    });
    await expect(drill).rejects.toThrow('interrupted (Ctrl-C): everything the drill had made was removed');
    expect(await ownedOnTheStack('coj-2023', config)).toEqual([]);
  }, 120_000);

  it('prints the report as a table from the CLI', async () => {
    const text = await tisw(['drill', 'coj-2023']);
    process.stdout.write(`${text.stdout}\n`);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/the old way \(2023\) +│? *tis-workflows|the old way \(2023\).*tis-workflows/);
    expect(text.stdout).toMatch(/reached TIS/);
    expect(text.stdout).toMatch(/first alert/);
  }, 180_000);

  it('refuses a broker, MongoDB or Temporal that is not on this machine, before it makes anything; its --help', async () => {
    const { help } = await expectLocalOnly('coj-2023', (cfg) => runCojDrill(cfg, { log }), 'TSS_MONGODB_URI');
    expect(help).toMatch(/--json/);
  });

  it("reads the owner's pid from the names it gives, and not from esr-2021's", () => {
    expect(drillOwner('coj-2023', 'tisw-drill-coj-2023-4711-a1b2')).toBe(4711);
    expect(drillOwner('coj-2023', 'tisw_test_123_ab_drill_coj_2023_4711_a1b2_old')).toBe(4711);
    expect(drillOwner('coj-2023', 'tisw-drill-esr-2021-4711-a1b2')).toBeUndefined();
  });
});
