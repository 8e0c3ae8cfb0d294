import { WorkerSyncs } from '../src/worker/worker-syncs';
import { InWorkerWaits } from '../src/worker/in-worker-waits';
import { TssStore } from '../src/adapters/tss-store';
import type { CojSignature } from '../src/shared/coj';
import { testLogger, testConfig } from './support/system';

type Coj = Awaited<ReturnType<TssStore['cojsOfTrainees']>>[number];

/**
 * The in-process hand-over of TIS's syncs back to TSS (pure logic: TSS's store is a stand-in here; the real
 * path, on FerretDB with the reference receivers, is in coj-synced.test.ts).
 */
describe('WorkerSyncs', () => {
  const signature = (n: number, signedAt = '2026-01-05T09:30:00.000Z'): CojSignature => ({ traineeTisId: `t${n}`, programmeMembershipTisId: `pm${n}`, signedAt, version: 'GG10' });
  const syncedAt = '2026-01-05T09:30:02.000Z';

  /** A stand-in for TSS's store: the CoJs it holds, and every list of trainees it was asked for. */
  function store(cojs: Coj[] = []): { tssStore: TssStore; cojs: Coj[]; asked: string[][] } {
    const asked: string[][] = [];
    // TssStore's own matching (syncedAmong) over a stand-in for its one query.
    const tssStore = Object.assign(Object.create(TssStore.prototype) as TssStore, {
      cojsOfTrainees: async (ids: string[]) => {
        asked.push([...ids].sort());
        return cojs.filter((c) => ids.includes(c.traineeTisId));
      },
    });
    return { tssStore, cojs, asked };
  }
  const holding = (s: CojSignature, synced: string | null, signedAt = s.signedAt): Coj => ({ traineeTisId: s.traineeTisId, programmeMembershipTisId: s.programmeMembershipTisId, signedAt, syncedAt: synced });

  it('hands the sync of this signature to the waiting publish, reading once for all that wait', async () => {
    const [a, b] = [signature(1), signature(2)];
    const { tssStore, cojs, asked } = store([holding(a, null), holding(b, null)]);
    const syncs = new WorkerSyncs(tssStore, 5000, testLogger(testConfig()), 20);
    const waitA = syncs.expect('coj-pm1', a);
    const waitB = syncs.expect('coj-pm2', b);
    cojs.splice(0, 2, holding(a, syncedAt), holding(b, syncedAt));
    await expect(waitA?.answer()).resolves.toEqual({ status: 'ok', result: { programmeMembershipTisId: 'pm1', signedAt: a.signedAt, syncedAt, source: 'tss-store' } });
    await expect(waitB?.answer()).resolves.toMatchObject({ status: 'ok', result: { programmeMembershipTisId: 'pm2', syncedAt } });
    expect(asked[0]).toEqual(['t1', 't2']); // one query for both waits
    expect(syncs.waitingCount).toBe(0);
    const reads = asked.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(asked.length).toBe(reads); // nothing waits: no reads
    await syncs.stop();
  });

  it('does not take an earlier signature synced, nor one not synced yet (the rule of domain.md)', async () => {
    const resigned = signature(3, '2026-01-06T10:00:00.000Z');
    const { tssStore, cojs } = store([holding(resigned, syncedAt, '2026-01-05T09:30:00.000Z')]); // the earlier signature, synced
    const syncs = new WorkerSyncs(tssStore, 300, testLogger(testConfig()), 20);
    await expect(syncs.expect('coj-pm3', resigned)?.answer()).resolves.toBeUndefined();
    cojs.splice(0, 1, holding(resigned, null));
    const unsynced = new WorkerSyncs(tssStore, 300, testLogger(testConfig()), 20);
    await expect(unsynced.expect('coj-pm3', resigned)?.answer()).resolves.toBeUndefined();
    await Promise.all([syncs.stop(), unsynced.stop()]);
  });

  it('once a wait went unanswered, lets one publish at a time wait as a probe, and all again once a probe is answered', async () => {
    const [a, b, c, d] = [signature(1), signature(2), signature(3), signature(4)];
    const { tssStore, cojs } = store([holding(a, null), holding(b, null), holding(c, null), holding(d, null)]);
    const syncs = new WorkerSyncs(tssStore, 100, testLogger(testConfig()), 20);
    await expect(syncs.expect('coj-pm1', a)?.answer()).resolves.toBeUndefined(); // TIS's sync is slower than the wait
    const probe = syncs.expect('coj-pm2', b);
    expect(probe).toBeDefined();
    expect(syncs.expect('coj-pm3', c)).toBeUndefined(); // a probe already waits
    cojs.splice(1, 1, holding(b, syncedAt));
    await expect(probe?.answer()).resolves.toMatchObject({ status: 'ok' });
    const afterProbe = [syncs.expect('coj-pm3', c), syncs.expect('coj-pm4', d)];
    expect(afterProbe.every(Boolean)).toBe(true);
    afterProbe.forEach((w) => w?.cancel());
    await syncs.stop();
  });

  it('does not wait when waiting is off, past the deadline the workflow sets, or once stopped', async () => {
    const { tssStore } = store();
    expect(new WorkerSyncs(tssStore, 0, testLogger(testConfig())).expect('coj-pm1', signature(1))).toBeUndefined();
    const syncs = new WorkerSyncs(tssStore, 5000, testLogger(testConfig()), 20);
    expect(syncs.expect('coj-pm1', signature(1), Date.now() - 1)).toBeUndefined();
    await syncs.stop();
    expect(syncs.expect('coj-pm1', signature(1))).toBeUndefined();
  });
});

describe('InWorkerWaits', () => {
  it('lets at most maxWaiting publishes wait at once (each holds a workflow task), and another once one ends', () => {
    const waits = new InWorkerWaits<string>({ waitMs: 5000, maxWaiting: 2 });
    const [a, b] = [waits.expect('coj-1', undefined, () => true), waits.expect('coj-2', undefined, () => true)];
    expect(a && b).toBeDefined();
    expect(waits.expect('coj-3', undefined, () => true)).toBeUndefined();
    a?.cancel();
    const c = waits.expect('coj-3', undefined, () => true);
    expect(c).toBeDefined();
    [b, c].forEach((w) => w?.cancel());
    expect(waits.waitingCount).toBe(0);
  });
});
