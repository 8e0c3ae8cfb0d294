/**
 * `tisw health`: each dependency reachable or not, and why. Every check runs, even after one fails, so
 * one answer tells the whole story.
 */
import type { Config } from '../config/config';
import { connectClient, pollerIdentities } from '../adapters/temporal';
import { openMongo } from '../adapters/mongo';
import type { Db } from 'mongodb';
import { readBrokerState } from '../adapters/broker-state';
import { QUEUES } from '../shared/amqp';
import { TSS_COLLECTIONS } from '../shared/coj';
import { ESR_COLLECTIONS } from '../shared/esr';
import { SEARCH_ATTRIBUTES } from '../shared/temporal';
import { SCHEDULE_IDS } from './schedules';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface HealthReport {
  ok: boolean;
  checks: Check[];
}

export async function checkHealth(config: Config): Promise<HealthReport> {
  const checks = [...acknowledgementModes(config), ...(await Promise.all([checkTemporal(config), checkRabbitMq(config), checkMongo(config)])).flat()];
  return { ok: checks.every((c) => c.ok), checks };
}

/** What acknowledges each job here (COJ_ACKNOWLEDGEMENT, ESR_ACKNOWLEDGEMENT): settings, always ok, said so that an operator sees which. */
function acknowledgementModes({ coj, esr }: Config): Check[] {
  const cojDetail =
    coj.acknowledgement === 'synced'
      ? [
          `synced: TSS's profile shows the signature synced back by TIS, read every ${coj.syncWatchIntervalMs / 1000} s by the sync watcher`,
          coj.receivedQueue ? `COJ_RECEIVED also taken from ${coj.receivedQueue}` : 'no COJ_RECEIVED queue',
          coj.rejectionsQueue ? `TCS's rejections taken from ${coj.rejectionsQueue}` : "no rejections queue: a CoJ TCS rejects stays unacknowledged (and is alerted as late)",
        ].join('; ')
      : "reply: the receiver's reply on the acknowledgement contract, then syncedAt written to TSS's store";
  const esrDetail =
    esr.acknowledgement === 'observed'
      ? `observed: the command's file recorded in the exporter's store and no due record left, read every ${esr.observeIntervalMs / 1000} s`
      : "reply: the exporter's reply on the acknowledgement contract";
  return [
    { name: 'acknowledgement.coj', ok: true, detail: cojDetail },
    { name: 'acknowledgement.esr', ok: true, detail: esrDetail },
  ];
}

async function checkTemporal(config: Config): Promise<Check[]> {
  const where = `${config.temporal.address}, namespace ${config.temporal.namespace}`;
  let client;
  try {
    client = await connectClient(config.temporal, 5000);
  } catch (err) {
    return [{ name: 'temporal', ok: false, detail: `cannot reach ${where}: ${(err as Error).message}` }];
  }
  try {
    const checks: Check[] = [];
    const { namespace } = config.temporal;
    await client.workflowService.describeNamespace({ namespace });
    checks.push({ name: 'temporal', ok: true, detail: `reachable at ${where}` });

    const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.values(SEARCH_ATTRIBUTES).map((k) => k.name).filter((n) => !(n in customAttributes));
    checks.push({
      name: 'temporal.search-attributes',
      ok: missing.length === 0,
      detail: missing.length === 0 ? 'all registered' : `missing: ${missing.join(', ')} (start a worker or \`tisw up\` to register them)`,
    });

    const taskQueue = config.temporal.taskQueue;
    for (const scheduleId of Object.values(SCHEDULE_IDS)) {
      try {
        const { state } = await client.schedule.getHandle(scheduleId).describe();
        checks.push({
          name: `temporal.schedule.${scheduleId}`,
          ok: !state.paused,
          detail: state.paused ? `PAUSED${state.note ? `: ${state.note}` : ''} (\`tisw schedule unpause\` for the ESR one)` : 'present, active',
        });
      } catch (err) {
        checks.push({ name: `temporal.schedule.${scheduleId}`, ok: false, detail: `missing (${(err as Error).message}): a worker creates it at start` });
      }
    }

    const pollers = await pollerIdentities(client, namespace, taskQueue);
    checks.push({
      name: 'temporal.workers',
      ok: pollers.length > 0,
      detail: pollers.length > 0 ? `${pollers.length} polling task queue ${taskQueue}` : `no worker polls task queue ${taskQueue}: start one with \`tisw worker\``,
    });
    return checks;
  } catch (err) {
    return [{ name: 'temporal', ok: false, detail: `${where}: ${(err as Error).message}` }];
  } finally {
    await client.connection.close();
  }
}

async function checkRabbitMq(config: Config): Promise<Check[]> {
  const where = hostOf(config.amqp.url);
  const synced = config.coj.acknowledgement === 'synced' ? [config.coj.receivedQueue, config.coj.rejectionsQueue].filter((q): q is string => q !== undefined) : [];
  const queues = [QUEUES.cojSigned, QUEUES.esrAppFileCommand, QUEUES.acknowledgement, ...synced];
  const broker = await readBrokerState(config.amqp.url, queues, QUEUES.brokerCheck);
  if (!broker.reachable) return [{ name: 'rabbitmq', ok: false, detail: `cannot connect to ${where}: ${broker.error ?? 'no answer'}` }];
  const consumerOf: Record<string, string> = {
    [QUEUES.cojSigned]: 'the TIS CoJ receiver',
    [QUEUES.esrAppFileCommand]: 'the ESR data exporter',
    [QUEUES.acknowledgement]: 'the workers\' acknowledgement listeners',
    ...Object.fromEntries(synced.map((q) => [q, 'a worker (in synced mode, every worker consumes it)'])),
  };
  return [
    { name: 'rabbitmq', ok: !broker.blocked, detail: broker.blocked ? `reachable at ${where}, but blocking publishers: ${broker.blocked}` : `reachable at ${where}, accepting publishes` },
    ...broker.queues.map((q) => ({
      name: `rabbitmq.queue.${q.queue}`,
      ok: !q.missing && q.consumers > 0,
      detail: q.missing ? 'missing: it is declared when a worker or receiver starts' : `${q.consumers} consumer(s), ${q.ready} ready${q.consumers === 0 ? ` — no consumer: is ${consumerOf[q.queue]} running?` : ''}`,
    })),
  ];
}

async function checkMongo(config: Config): Promise<Check[]> {
  return Promise.all(
    (['tss', 'tis', 'esr'] as const).map(async (store): Promise<Check> => {
      const target = config.mongo[store];
      const where = `${hostOf(target.uri)}, database ${target.database}`;
      try {
        const mongo = await openMongo(target, 'tisw-health');
        try {
          await mongo.db.command({ ping: 1 });
          const missing = await missingIndexes(mongo.db, REQUIRED_INDEXES[store]);
          if (missing.length > 0) return { name: `mongodb.${store}`, ok: false, detail: `reachable at ${where}, but missing indexes: ${missing.join(', ')} (a worker creates them at start)` };
          return { name: `mongodb.${store}`, ok: true, detail: `reachable at ${where}, indexes present` };
        } finally {
          await mongo.close();
        }
      } catch (err) {
        return { name: `mongodb.${store}`, ok: false, detail: `cannot reach ${where}: ${(err as Error).message}` };
      }
    }),
  );
}

/** The indexes correctness depends on (unique ones), per store: collection and key. */
const REQUIRED_INDEXES: Record<'tss' | 'tis' | 'esr', Array<[collection: string, key: string]>> = {
  tss: [[TSS_COLLECTIONS.traineeProfiles, 'traineeTisId']],
  tis: [],
  esr: [[ESR_COLLECTIONS.appFiles, 'sequence']],
};

async function missingIndexes(db: Db, required: Array<[string, string]>): Promise<string[]> {
  const missing: string[] = [];
  for (const [collection, key] of required) {
    const indexes = await db.collection(collection).listIndexes().toArray().catch(() => []);
    if (!indexes.some((i) => Object.keys(i.key as object)[0] === key && i.unique === true)) missing.push(`${collection}.${key} (unique)`);
  }
  return missing;
}

/** host:port of a URL, never its credentials. */
function hostOf(url: string): string {
  return /^[a-z+]+:\/\/(?:[^@/]*@)?([^/?]+)/.exec(url)?.[1] ?? 'the configured address';
}
