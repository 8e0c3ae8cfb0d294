import { WorkerReplies } from '../src/worker/worker-replies';
import { workerReplyQueue } from '../src/adapters/amqp-topology';
import { type Acknowledgement } from '../src/shared/amqp';
import { acknowledgesSignature } from '../src/shared/coj';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCojActivities, type CojPublished } from '../src/activities/coj.activities';
import type { AmqpPublisher } from '../src/adapters/amqp';
import type { SyncOutcome, TssStore } from '../src/adapters/tss-store';

/** The in-process hand-over of TIS's replies (pure logic; the end-to-end path is in coj-submission.test.ts). */
describe('WorkerReplies', () => {
  const signedAt = '2026-01-05T09:30:00.000Z';
  const ok = (at = signedAt): Acknowledgement => ({ status: 'ok', result: { programmeMembershipTisId: 'pm', signedAt: at, version: 'GG10' } });
  const sameSignature = (a: Acknowledgement): boolean => acknowledgesSignature(a, { signedAt });

  function listening(waitMs = 5000): WorkerReplies {
    const replies = new WorkerReplies(workerReplyQueue('unit'), waitMs);
    replies.markListening();
    return replies;
  }

  it('hands the awaited reply to the waiting publish, even one that comes before the confirm', async () => {
    const replies = listening();
    const expected = replies.expect('coj-1', sameSignature);
    expect(replies.offer('coj-1', ok())).toBe(true); // before answer() is asked: TIS was quicker than the broker's confirm
    await expect(expected?.answer()).resolves.toEqual(ok());
    expect(replies.waitingCount).toBe(0);
  });

  it('does not take a reply for another run, or for another signature of the same run', async () => {
    const replies = listening(50);
    const expected = replies.expect('coj-1', sameSignature);
    expect(replies.offer('coj-2', ok())).toBe(false);
    expect(replies.offer('coj-1', ok('2026-01-04T09:30:00.000Z'))).toBe(false);
    await expect(expected?.answer()).resolves.toBeUndefined();
  });

  it('gives up after the configured wait, or sooner at the deadline the workflow sets', async () => {
    const replies = listening(120_000); // longer than jest lets a test run (60 s): only the deadline can end this wait
    await expect(replies.expect('coj-1', sameSignature, Date.now() + 100)?.answer()).resolves.toBeUndefined();
    expect(replies.expect('coj-2', sameSignature, Date.now() - 1)).toBeUndefined(); // the deadline has passed: no wait at all
  });

  it('stops waiting once a wait went unanswered, until a reply comes again (TIS down: no workflow task held for nothing)', async () => {
    const replies = listening(20);
    await expect(replies.expect('coj-1', sameSignature)?.answer()).resolves.toBeUndefined();
    expect(replies.expect('coj-2', sameSignature)).toBeUndefined();
    expect(replies.offer('coj-1', ok())).toBe(false); // a late reply: for the signal path, but TIS is alive
    expect(replies.expect('coj-3', sameSignature)).toBeDefined();
  });

  it('does not wait before the listener consumes its queue, nor when waiting is switched off, and says where replies go', () => {
    const notYet = new WorkerReplies(workerReplyQueue('unit'), 5000);
    expect(notYet.expect('coj-1', sameSignature)).toBeUndefined();
    expect(notYet.replyTo('shared')).toBe('shared');
    notYet.markListening();
    expect(notYet.replyTo('shared')).toBe(notYet.queue);
    const off = new WorkerReplies(workerReplyQueue('unit'), 0);
    off.markListening();
    expect(off.expect('coj-1', sameSignature)).toBeUndefined();
  });

  it('ends a cancelled wait, and a wait replaced by a retry of the same run in this process', async () => {
    const replies = listening();
    const cancelled = replies.expect('coj-1', sameSignature);
    cancelled?.cancel();
    await expect(cancelled?.answer()).resolves.toBeUndefined();
    const first = replies.expect('coj-2', sameSignature);
    const retry = replies.expect('coj-2', sameSignature);
    await expect(first?.answer()).resolves.toBeUndefined();
    expect(replies.offer('coj-2', ok())).toBe(true);
    await expect(retry?.answer()).resolves.toEqual(ok());
  });
});

/**
 * The first publish with a reply in the worker records syncedAt at once, and leaves it to the workflow
 * when that write fails (our own logic around the store: the store and the broker are stand-ins here;
 * the real path is in coj-submission.test.ts).
 */
describe('publishCojSigned, when TIS answers while it waits', () => {
  const signature = { programmeMembershipTisId: 'pm-1', traineeTisId: '4711', signedAt: '2026-01-05T09:30:00.000Z', version: 'GG10' as const };
  const replyWait = { until: Date.now() + 60_000, submissionStartedAt: new Date().toISOString() };

  function activities(recordSynced: () => Promise<SyncOutcome>) {
    const workerReplies = new WorkerReplies(workerReplyQueue('unit'), 5000);
    workerReplies.markListening();
    // The "broker" confirms, and TIS answers, at once.
    const amqp = { publish: async () => void workerReplies.offer('coj-pm-1', { status: 'ok', result: { ...signature } }) } as unknown as AmqpPublisher;
    const tssStore = { recordSynced } as unknown as TssStore;
    return createCojActivities({ amqp, tssStore, workerReplies });
  }

  it('returns the reply with syncedAt recorded', async () => {
    const published = await new MockActivityEnvironment().run(activities(async () => 'synced').publishCojSigned, signature, 'coj-pm-1', { resend: false, reply: replyWait });
    expect(published).toMatchObject({ acknowledgement: { status: 'ok' }, synced: { outcome: 'synced', syncedAt: expect.any(String) as unknown } });
  });

  it('returns the reply without syncedAt when the write fails, for the workflow to write it', async () => {
    const published: CojPublished = await new MockActivityEnvironment().run(
      activities(async () => {
        throw new Error('TSS store unreachable');
      }).publishCojSigned,
      signature,
      'coj-pm-1',
      { resend: false, reply: replyWait },
    );
    expect(published.acknowledgement).toMatchObject({ status: 'ok' });
    expect(published.synced).toBeUndefined();
  });

  it('does not wait on a resend', async () => {
    const published = await new MockActivityEnvironment().run(activities(async () => 'synced').publishCojSigned, signature, 'coj-pm-1', { resend: true, reply: replyWait });
    expect(published).toEqual({ publishedAt: expect.any(String) as unknown });
  });
});
