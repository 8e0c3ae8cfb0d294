/**
 * Deliberately broken CoJ receivers, for `tisw conformance coj` to catch (test/conformance.test.ts). Each is
 * a broken receiver (broken-receivers.ts) that honours the reply contract in every way but one, and
 * keeps its CoJs as the reference receiver does (TIS's programme membership documents, TisStore's layout),
 * so that the conformance run reads back what it stored:
 *   - stores-twice: writes the CoJ again on every delivery of the same signature (receivedAt moves, so
 *     TIS's sync would copy it to TSS again), still answering as before;
 *   - silent-on-unknown: takes a CoJ for an unknown programme membership and never answers it;
 *   - dies-on-bad-json: a body that is not JSON kills it (its connection drops, the message unacked, and
 *     it never comes back), as a consumer that lets JSON.parse throw does.
 */
import type { TisStore } from '../../src/adapters/tis-store';
import { cojSignedEvent } from '../../src/shared/messages';
import { startBrokenReceiver, type BrokenReceiver } from './broken-receivers';

export const COJ_RECEIVER_FAULTS = ['stores-twice', 'silent-on-unknown', 'dies-on-bad-json'] as const;
export type CojReceiverFault = (typeof COJ_RECEIVER_FAULTS)[number];

export type BrokenCojReceiver = BrokenReceiver;

export function startBrokenCojReceiver(fault: CojReceiverFault, options: { amqpUrl: string; tis: TisStore }): Promise<BrokenCojReceiver> {
  const queue = `tisw.test.conformance.${fault}.${process.pid}`;
  return startBrokenReceiver(`broken-coj-receiver-${fault}`, { amqpUrl: options.amqpUrl, queue, diesOnBadJson: fault === 'dies-on-bad-json' }, async (body, answer) => {
    const parsed = cojSignedEvent.safeParse(body);
    if (!parsed.success) return answer.refuse('not a CoJ event');
    const { programmeMembershipTisId: id, conditionsOfJoining } = parsed.data;
    const signedAt = new Date(conditionsOfJoining.signedAt);
    const doc = await options.tis.programmeMemberships.findOne({ _id: id });
    if (!doc) {
      if (fault === 'silent-on-unknown') return answer.ack();
      return answer.refuse(`unknown programme membership ${id}`);
    }
    const stored = doc.conditionsOfJoining?.signedAt.getTime();
    const takes = stored === undefined || stored < signedAt.getTime() || (fault === 'stores-twice' && stored === signedAt.getTime());
    if (takes) await options.tis.programmeMemberships.updateOne({ _id: id }, { $set: { conditionsOfJoining: { signedAt, version: conditionsOfJoining.version, receivedAt: new Date() } } });
    answer.reply({ status: 'ok', programmeMembershipTisId: id, signedAt: conditionsOfJoining.signedAt, version: conditionsOfJoining.version });
    answer.ack();
  });
}
