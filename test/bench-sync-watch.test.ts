import { ferretDbReading, traineeRanges, waitingRunStartOptions } from '../bench/sync-watch';
import { SEARCH_ATTRIBUTES } from '../src/shared/temporal';

/** `tisw bench sync-watch`'s set-up: the runs it makes wait, the trainees each measurement takes, what it says of FerretDB. */
describe('the sync-watch benchmark', () => {
  const signature = { traineeTisId: 'T000042', programmeMembershipTisId: 'PM000042', signedAt: '2025-06-02T09:00:00.000Z', version: 'GG10' as const };
  const timings = { slaMs: 3_600_000, resendInitialMs: 60_000, resendMaxMs: 3_600_000 };

  it('makes a CoJ wait as submitCoj starts one, with the stage the sync watcher lists already set', () => {
    const options = waitingRunStartOptions(signature, 'no-worker-polls-this', timings);
    expect(options).toMatchObject({ workflowId: 'coj-PM000042', taskQueue: 'no-worker-polls-this', memo: { signedAt: signature.signedAt }, args: [{ signature, timings, acknowledgement: 'synced' }] });
    const attributes = options.typedSearchAttributes as NonNullable<typeof options.typedSearchAttributes> & { get: (key: unknown) => unknown };
    expect(attributes.get(SEARCH_ATTRIBUTES.trainee)).toBe('T000042');
    expect(attributes.get(SEARCH_ATTRIBUTES.programmeMembership)).toBe('PM000042');
    expect(attributes.get(SEARCH_ATTRIBUTES.stage)).toBe('awaiting-acknowledgement');
  });

  it('gives each size and case trainees of their own, the all-synced ones at the end of the store', () => {
    const { syncedFrom, ranges } = traineeRanges([100, 1000], 10_000);
    expect(syncedFrom).toBe(8900);
    expect(ranges).toEqual([
      { 'none-synced': { from: 0, to: 100 }, 'all-synced': { from: 8900, to: 9000 } },
      { 'none-synced': { from: 100, to: 1100 }, 'all-synced': { from: 9000, to: 10_000 } },
    ]);
    expect(() => traineeRanges([100, 1000], 2000)).toThrow(/too few/);
  });

  it('says what FerretDB\'s explain means: no pushdown and a sequential scan is a read of the whole collection per batch', () => {
    expect(ferretDbReading('postgresql', 'filterPushdown false; Node Type: Seq Scan')).toMatch(/does not push the \$in down to postgresql: it reads every profile .* a read of the whole collection/);
    expect(ferretDbReading('postgresql', 'filterPushdown true; Node Type: Index Scan')).not.toMatch(/whole collection/);
  });
});
