/**
 * The system monitor: one workflow for the whole cluster (a fixed id, started by every worker if it is not
 * running), so exactly one looks at the broker however many workers run, and it moves to another worker
 * when its worker dies. Every interval it observes the broker and keeps, per condition, an episode:
 *   - queue-idle:<queue>: messages ready and no consumer (the 2023 incident: nothing consumed, nobody knew);
 *   - queue-no-progress:<queue>: messages ready and consumers attached, but none taken (a consumer hangs);
 *   - broker-blocked: the broker holds publishes back (a memory or disk alarm);
 *   - broker-unreachable: no connection to the broker;
 *   - ack-queue-growing: more than the backlog of replies waiting for the listener;
 *   - coj-sync-stalled (synced mode): CoJs waiting longer than the threshold while TCS's queue has had
 *     consumers at every check for as long, and none acknowledged in that time: TIS's change data capture or its sync back to TSS is
 *     down, so nothing comes back however often we resend.
 * A condition that holds long enough raises one alert; when it ends, one "resolved". One alert per
 * episode, not one per check.
 */
import { continueAsNew, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Alert, AlertActivities } from '../activities/alert.activities';
import type { MonitorActivities } from '../activities/monitor.activities';
import { QUEUES } from '../shared/amqp';
import { type CojSyncObservation, type MonitorState, type Observation } from '../shared/monitor';

const { observeBroker, observeCojSync, reportMonitorState } = proxyActivities<MonitorActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 2 } });
const { raiseAlert } = proxyActivities<AlertActivities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });

interface Condition {
  key: string;
  holdMs: number;
  alert: Alert;
}

export async function systemMonitorWorkflow(state: MonitorState): Promise<void> {
  const { settings } = state;
  for (;;) {
    const observation = await observeBroker(settings.queues).catch(
      (err: unknown): Observation => ({ reachable: false, error: (err as Error).message, queues: [] }),
    );
    // Synced mode's question, asked only where the broker answered: otherwise broker-unreachable says it.
    const stalledAfterMs = settings.cojSyncStalledAfterMs;
    const sync = stalledAfterMs !== undefined && observation.reachable ? await observeCojSync(stalledAfterMs).catch(() => undefined) : undefined;
    const now = Date.now();
    if (stalledAfterMs !== undefined) {
      const consumed = (observation.queues.find((q) => q.queue === QUEUES.cojSigned)?.consumers ?? 0) > 0;
      if (!consumed) delete state.tcsConsumingSince;
      else state.tcsConsumingSince ??= new Date(now).toISOString();
    }
    const present = [...conditions(observation, state), ...(sync && stalledAfterMs !== undefined ? syncStalled(sync, state, now, stalledAfterMs) : [])];
    for (const condition of present) {
      let episode = state.episodes.find((e) => e.key === condition.key);
      if (!episode) {
        episode = { key: condition.key, since: new Date(now).toISOString(), alerted: false };
        state.episodes.push(episode);
      }
      if (!episode.alerted && now - Date.parse(episode.since) >= condition.holdMs) {
        episode.alerted = true;
        await raiseAlert({ ...condition.alert, details: { ...condition.alert.details, since: episode.since } });
      }
    }
    for (const episode of [...state.episodes]) {
      if (present.some((c) => c.key === episode.key)) continue;
      state.episodes = state.episodes.filter((e) => e !== episode);
      if (episode.alerted) {
        const kind = episode.key.split(':')[0] as Alert['kind'];
        await raiseAlert({ kind, resolved: true, summary: `${episode.key} has ended (since ${episode.since})`, details: { since: episode.since } });
      }
    }
    state.lastReady = Object.fromEntries(observation.queues.map((q) => [q.queue, q.ready]));
    const known = ['broker-blocked', 'broker-unreachable', 'ack-queue-growing', ...(stalledAfterMs !== undefined ? ['coj-sync-stalled'] : []), ...settings.queues.flatMap((q) => [`queue-idle:${q}`, `queue-no-progress:${q}`])];
    const conditionsNow = Object.fromEntries(known.map((key) => [key, state.episodes.some((e) => e.key === key && e.alerted)]));
    // Gauges only: a failure here never stops the watch.
    await reportMonitorState({ conditions: conditionsNow, slaMs: settings.cojSlaMs }).catch(() => undefined);
    await sleep(settings.intervalMs);
    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2000) await continueAsNew<typeof systemMonitorWorkflow>(state);
  }
}

function conditions(o: Observation, { settings, lastReady }: MonitorState): Condition[] {
  const found: Condition[] = [];
  if (!o.reachable) {
    found.push({ key: 'broker-unreachable', holdMs: settings.idleAfterMs, alert: { kind: 'broker-unreachable', summary: `RabbitMQ is unreachable: ${o.error ?? 'no answer'}` } });
    return found;
  }
  if (o.blocked) {
    found.push({ key: 'broker-blocked', holdMs: 0, alert: { kind: 'broker-blocked', summary: `the broker is blocking publishers: ${o.blocked}`, details: { reason: o.blocked } } });
  }
  for (const q of o.queues) {
    if (q.ready > 0 && q.consumers === 0) {
      found.push({
        key: `queue-idle:${q.queue}`,
        holdMs: settings.idleAfterMs,
        alert: { kind: 'queue-idle', summary: `${q.ready} message(s) waiting on ${q.queue} and no consumer`, details: { queue: q.queue, ready: q.ready } },
      });
    }
    if (noProgress(q, lastReady[q.queue])) {
      found.push({
        key: `queue-no-progress:${q.queue}`,
        holdMs: settings.idleAfterMs,
        alert: {
          kind: 'queue-no-progress',
          summary: `${q.ready} message(s) waiting on ${q.queue} and its ${q.consumers} consumer(s) take none: a consumer hangs (or is far slower than what arrives)`,
          details: { queue: q.queue, ready: q.ready, consumers: q.consumers },
        },
      });
    }
    if (q.queue === QUEUES.acknowledgement && q.ready > settings.ackBacklog) {
      found.push({
        key: 'ack-queue-growing',
        holdMs: settings.idleAfterMs,
        alert: { kind: 'ack-queue-growing', summary: `${q.ready} replies waiting on ${q.queue} (more than ${settings.ackBacklog}): the listeners do not keep up`, details: { ready: q.ready } },
      });
    }
  }
  return found;
}

/**
 * The threshold is in the facts (TCS consuming that long, CoJs waiting that long, none acknowledged for as
 * long), so it alerts at once. TCS must have been consuming for the whole threshold: after a TCS outage the
 * CoJs it takes back have waited long and none was acknowledged meanwhile, and the sync needs its time.
 */
function syncStalled(sync: CojSyncObservation, { tcsConsumingSince }: MonitorState, now: number, stalledAfterMs: number): Condition[] {
  const consumingLong = tcsConsumingSince !== undefined && now - Date.parse(tcsConsumingSince) >= stalledAfterMs;
  if (!(sync.waitingLong > 0 && sync.acknowledgedRecently === 0 && consumingLong)) return [];
  const minutes = Math.round(stalledAfterMs / 6000) / 10;
  return [
    {
      key: 'coj-sync-stalled',
      holdMs: 0,
      alert: {
        kind: 'coj-sync-stalled',
        summary: `${sync.waitingLong} CoJ(s) taken by TCS's queue wait for TIS's sync back to TSS for over ${minutes} min, and none was synced in that time: TIS's change data capture or tis-trainee-sync is down (or TCS rejects them and its queue does not dead-letter)`,
        details: { waiting: sync.waitingLong, tcsConsumingSince, stalledAfterMs },
      },
    },
  ];
}

/**
 * "No progress" at one check: consumers are attached, messages are ready, and the ready count has not
 * fallen since the previous check. Why from the ready count: over AMQP alone (no management plugin) a
 * queue shows only its ready messages and its consumers, not deliveries or acks, so progress can only be
 * read from successive looks: a consumer that takes messages lowers `ready`, one that hangs with its
 * prefetch full leaves it where it is (or rising, as more arrive). An episode is a run of such checks; the
 * alert comes when it has lasted the idle threshold, and any fall of `ready`, `ready` reaching 0 or the
 * consumers leaving (then it is queue-idle) ends it. The first look after a start or a gap in the broker's
 * answers has nothing to compare with, so it never counts.
 * Limits, since only the net change between two looks is seen:
 *   - consumers slower than what arrives (ready rising at every check) look the same as stuck ones; that is
 *     worth the alert too, and the summary says so;
 *   - one stuck consumer beside a working one is not seen: the working one lowers `ready`;
 *   - messages leaving by expiry (the ESR commands carry a TTL) look like progress;
 *   - a consumer busy on one long message with prefetch 1 while another waits looks stuck: the threshold
 *     must be longer than the longest normal handling of one message (e.g. the ESR exporter's largest file).
 */
function noProgress(q: Observation['queues'][number], readyBefore: number | undefined): boolean {
  return q.consumers > 0 && q.ready > 0 && readyBefore !== undefined && q.ready >= readyBefore;
}
