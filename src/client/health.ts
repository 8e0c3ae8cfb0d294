/**
 * `tisw health`: each dependency reachable or not, and why. Every check runs, even after one fails, so
 * one answer tells the whole story. Warnings (an index missing in a store we read) pass, with what to do.
 */
import type { Config } from '../config/config';
import { connectClient, pollerIdentities } from '../adapters/temporal';
import type { Db } from 'mongodb';
import { readBrokerState } from '../adapters/broker-state';
import { QUEUES } from '../shared/amqp';
import { createIndexCommand, hasIndex, openMongo, type IndexSpec } from '../adapters/mongo';
import { TSS_PROFILE_INDEXES } from '../adapters/tss-store';
import { ESR_INDEXES } from '../adapters/esr-store';
import { parseWorkerIdentity, SEARCH_ATTRIBUTES, watchersTaskQueue } from '../shared/temporal';
import { SCHEDULE_IDS } from './schedules';

export interface Check {
  name: string;
  /** false: the check fails, and so does `tisw health`. */
  ok: boolean;
  /** Passes, but something an operator should see to (e.g. a missing index, with the command that creates it). */
  warning?: boolean;
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
      ? `observed: the command's file recorded in the exporter's store and no due record left, read from 0.5 s after each publish, then up to every ${esr.observeIntervalMs / 1000} s`
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
      detail:
        pollers.length > 0
          ? `${pollers.length} polling task queue ${taskQueue}: ${pollers.map(describePoller).join('; ')}`
          : `no worker polls task queue ${taskQueue}: start one with \`tisw worker\``,
    });
    // Every worker polls both; a cluster seen on one and not the other runs an older tis-workflows somewhere.
    const watchersQueue = watchersTaskQueue(taskQueue);
    const watchers = await pollerIdentities(client, namespace, watchersQueue);
    checks.push({
      name: 'temporal.watchers',
      ok: watchers.length > 0,
      detail:
        watchers.length > 0
          ? `${watchers.length} polling task queue ${watchersQueue} (the system monitor${config.coj.acknowledgement === 'synced' ? ' and the CoJ sync watcher' : ''})`
          : `no worker polls task queue ${watchersQueue}: nothing watches the broker${config.coj.acknowledgement === 'synced' ? " or TSS's syncs" : ''}; start a \`tisw worker\` of this version`,
    });
    return checks;
  } catch (err) {
    return [{ name: 'temporal', ok: false, detail: `${where}: ${(err as Error).message}` }];
  } finally {
    await client.connection.close();
  }
}

/** A poller as an operator looks for it: which host and process, and where to scrape it (the port is in its identity). */
function describePoller(identity: string): string {
  const worker = parseWorkerIdentity(identity);
  if (!worker) return identity;
  return `${worker.host} pid ${worker.pid}, ${worker.metricsPort !== undefined ? `metrics on :${worker.metricsPort}` : 'no metrics endpoint'}`;
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
  const checks = await Promise.all(
    (['tss', 'tis', 'esr'] as const).map(async (store): Promise<Check[]> => {
      const target = config.mongo[store];
      const where = `${hostOf(target.uri)}, database ${target.database}`;
      try {
        const mongo = await openMongo(target, 'tisw-health');
        try {
          await mongo.db.command({ ping: 1 });
          const missing = await missingIndexes(mongo.db, target.uri, indexesOf(config, store));
          const indexes = missing.length === 0 ? 'the indexes its reads rely on present' : `${missing.length} index(es) its reads rely on missing (below)`;
          return [{ name: `mongodb.${store}`, ok: true, detail: `reachable at ${where}; ${indexes}` }, ...missing];
        } finally {
          await mongo.close();
        }
      } catch (err) {
        return [{ name: `mongodb.${store}`, ok: false, detail: `cannot reach ${where}: ${(err as Error).message}` }];
      }
    }),
  );
  return checks.flat();
}

/**
 * The indexes our reads rely on, per store, as each store states them. They are in databases tis-workflows does
 * not own (TSS's, the exporter's), so it creates none: a missing one is a warning naming the command that
 * creates it, for the owner to run. (TIS's store: tis-workflows reads nothing there.)
 */
function indexesOf(config: Config, store: 'tss' | 'tis' | 'esr'): Array<[collection: string, spec: IndexSpec]> {
  if (store === 'tss') return TSS_PROFILE_INDEXES.map((spec) => [config.mongo.tssProfilesCollection, spec]);
  if (store === 'esr') return Object.entries(ESR_INDEXES).flatMap(([collection, specs]) => specs.map((spec): [string, IndexSpec] => [collection, spec]));
  return [];
}

async function missingIndexes(db: Db, uri: string, wanted: Array<[string, IndexSpec]>): Promise<Check[]> {
  const missing: Check[] = [];
  for (const [collection, spec] of wanted) {
    if (await hasIndex(db, collection, spec)) continue;
    missing.push({
      name: `mongodb.index.${db.databaseName}.${collection}.${Object.keys(spec.key).join('_')}`,
      ok: true,
      warning: true,
      detail: `missing${spec.unique ? ' (unique)' : ''}: ${spec.why}. Create it with: mongosh "${withoutCredentials(uri)}" --eval '${createIndexCommand(collection, spec)}'`,
    });
  }
  return missing;
}

/** The URI with no user, password or options: what an operator adds their own credentials to. */
function withoutCredentials(uri: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/)(?:[^@/]*@)?([^/?]+)(\/[^?]*)?/.exec(uri);
  return match ? `${match[1]}${match[2]}${match[3] ?? ''}` : 'the store\'s URI';
}

/** host:port of a URL, never its credentials. */
function hostOf(url: string): string {
  return /^[a-z+]+:\/\/(?:[^@/]*@)?([^/?]+)/.exec(url)?.[1] ?? 'the configured address';
}
