/**
 * The foundation's end-to-end probe: one message published with confirms, one document written. It is
 * the smallest workflow that crosses every boundary the real ones cross (Temporal, RabbitMQ, MongoDB),
 * which makes it the first proof in the tests and a live check an operator can run (`tisw probe`).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { ProbeInput, ProbeResult } from '../shared/probe';
import type { ProbeActivities } from '../activities/probe.activities';
import { InvalidInputError } from '../shared/errors';

const { publishProbe, recordProbe } = proxyActivities<ProbeActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export async function probeWorkflow(input: ProbeInput): Promise<ProbeResult> {
  if (!/^[\w-]{1,100}$/.test(input.probeId)) {
    // Non-retryable: the run fails at once, plainly, instead of retrying a task that can never pass.
    throw InvalidInputError.failure(`probeId must be 1-100 letters, digits, _ or -; got "${input.probeId}"`);
  }
  const published = await publishProbe(input);
  return recordProbe({ ...input, ...published });
}
