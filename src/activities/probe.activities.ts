import type { Db } from 'mongodb';
import { QUEUES } from '../shared/amqp';
import { PROBE_COLLECTION, type ProbeInput, type ProbeMessage, type ProbeResult } from '../shared/probe';
import type { AmqpPublisher } from '../adapters/amqp';

export interface ProbeDeps {
  amqp: AmqpPublisher;
  tss: Db;
}

export function createProbeActivities({ amqp, tss }: ProbeDeps) {
  return {
    async publishProbe({ probeId }: ProbeInput): Promise<{ queue: string; messageId: string }> {
      const message: ProbeMessage = { probeId, publishedAt: new Date().toISOString() };
      const messageId = `probe-${probeId}`;
      await amqp.publish(QUEUES.probe, message, { messageId, type: 'probe' });
      return { queue: QUEUES.probe, messageId };
    },

    /** Upsert by probe id: a retried activity writes the same document, not a second one. */
    async recordProbe(probe: ProbeInput & { queue: string; messageId: string }): Promise<ProbeResult> {
      const recordedAt = new Date().toISOString();
      await tss
        .collection<ProbeResult & { _id: string }>(PROBE_COLLECTION)
        .updateOne({ _id: probe.probeId }, { $setOnInsert: { ...probe, recordedAt } }, { upsert: true });
      const stored = await tss.collection<ProbeResult & { _id: string }>(PROBE_COLLECTION).findOne({ _id: probe.probeId });
      if (!stored) throw new Error(`probe ${probe.probeId} was written but cannot be read back`);
      return { probeId: stored.probeId, queue: stored.queue, messageId: stored.messageId, recordedAt: stored.recordedAt };
    },
  };
}

export type ProbeActivities = ReturnType<typeof createProbeActivities>;
