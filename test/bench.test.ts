import { tisw } from './support/processes';
import type { CojBenchFigures, CojModeFigures } from '../bench/coj';
import type { ReconcileBenchFigures } from '../bench/reconcile';

/**
 * The CoJ benchmark runs end to end on a small burst: it builds its throwaway system, delivers every CoJ,
 * measures the floor either side, and prints figures that hold together. (Its arithmetic has unit tests in
 * bench-measure.test.ts; the figures themselves are for `npx tisw bench coj` on an idle machine, never
 * asserted here.)
 */
describe('tisw bench coj', () => {
  it('delivers a small burst in each mode through its own copy of the system and prints the figures as JSON', async () => {
    const { code, stdout, stderr } = await tisw(['bench', 'coj', '--count', '20', '--bursts', '2', '--floor-burst', '20', '--json']);
    expect({ code, stderr: code === 0 ? '' : stderr.slice(-2000) }).toEqual({ code: 0, stderr: '' });
    const figures = JSON.parse(stdout) as CojBenchFigures;
    expect(figures).toMatchObject({ count: 20, workers: 1 });
    expect(figures.modes.map((m) => m.acknowledgement)).toEqual(['synced', 'reply']);
    for (const mode of figures.modes) {
      expect(mode.bursts).toHaveLength(2);
      for (const burst of mode.bursts) {
        expect(burst.perSecond).toBeGreaterThan(0);
        expect(burst.rateRatio).toBeCloseTo(burst.perSecond / burst.floorPerSecond, 1);
        expect(burst.cpuMsPerCoj.total).toBeGreaterThan(0);
      }
      expect(mode.workerMemoryMiB.afterBurst).toHaveLength(2);
      expect(mode.submissionToAcknowledged.p50Ms).toBeGreaterThan(0);
      expect(mode.ratios.cojRateToOneActivityBurstRate).toBeGreaterThan(0);
    }
    expect(figures.floorBursts).toHaveLength(5); // before the first burst, and after each of the four
    const [synced, reply] = figures.modes as [CojModeFigures, CojModeFigures];
    // Each mode counted every acknowledgement (the warm-up's 20 and the two bursts' 40), some of them handed over in the worker;
    // in synced mode the watcher ran rounds in the workers.
    for (const mode of [synced, reply]) {
      expect(mode.handOvers.inWorker + mode.handOvers.bySignal).toBeGreaterThanOrEqual(60);
      expect(mode.handOvers.inWorker).toBeGreaterThan(0);
    }
    expect(synced.syncWatcher?.rounds).toBeGreaterThan(0);
    expect(reply.syncWatcher).toBeUndefined();
  }, 300_000);
});

describe('tisw bench reconcile', () => {
  it("times findUnsynced over a seeded TSS store of its own and finds exactly the unsynced CoJs", async () => {
    const { code, stdout, stderr } = await tisw(['bench', 'reconcile', '--profiles', '500', '--unsynced', '7', '--rounds', '2', '--json']);
    expect({ code, stderr: code === 0 ? '' : stderr.slice(-2000) }).toEqual({ code: 0, stderr: '' });
    const figures = JSON.parse(stdout) as ReconcileBenchFigures;
    expect(figures).toMatchObject({ profiles: 500, unsynced: 7, found: 7 });
    expect(figures.roundsMs).toHaveLength(2);
    expect(figures.medianRoundMs).toBeGreaterThan(0);
  }, 120_000);
});
