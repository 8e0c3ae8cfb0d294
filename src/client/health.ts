/**
 * `tisw health`: each dependency reachable or not, and why. Every check runs, even after one fails, so
 * one answer tells the whole story.
 */
import type { Config } from '../config/config';
import { connectClient } from '../adapters/temporal';
import { openMongo } from '../adapters/mongo';
import { amqpProblem } from '../local/rabbitmq';
import { SEARCH_ATTRIBUTES } from '../shared/contract';

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
  const checks = (await Promise.all([checkTemporal(config), checkRabbitMq(config), checkMongo(config)])).flat();
  return { ok: checks.every((c) => c.ok), checks };
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
    const { pollers: all } = await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType: 1 });
    // The server remembers a poller for minutes after it stopped; one seen in the last two minutes is alive
    // (a poll lasts at most about a minute).
    const pollers = all.filter((p) => Date.now() - Number(p.lastAccessTime?.seconds ?? 0) * 1000 < 120_000);
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
  const problem = await amqpProblem(config.amqp.url);
  const where = hostOf(config.amqp.url);
  return [{ name: 'rabbitmq', ok: !problem, detail: problem ? `cannot connect to ${where}: ${problem}` : `reachable at ${where}` }];
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
          return { name: `mongodb.${store}`, ok: true, detail: `reachable at ${where}` };
        } finally {
          await mongo.close();
        }
      } catch (err) {
        return { name: `mongodb.${store}`, ok: false, detail: `cannot reach ${where}: ${(err as Error).message}` };
      }
    }),
  );
}

/** host:port of a URL, never its credentials. */
function hostOf(url: string): string {
  return /^[a-z+]+:\/\/(?:[^@/]*@)?([^/?]+)/.exec(url)?.[1] ?? 'the configured address';
}
