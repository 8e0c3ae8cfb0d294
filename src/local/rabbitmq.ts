/**
 * The machine's RabbitMQ, as the local system and the tests use it: reachability, starting a stopped
 * local broker, and per-run virtual hosts (so that concurrent test runs never see each other's queues).
 * Uses rabbitmqctl, which needs to run as root or as the rabbitmq user. (A private throwaway node, for the
 * fault tests and `tisw drill coj-2023`, which must not alarm this broker: src/local/private-rabbitmq.ts.)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connectAmqp } from '../adapters/amqp';
import { QUEUES } from '../shared/amqp';

const run = promisify(execFile);

/** Undefined when a connection to `url` opens; else why not. */
export async function amqpProblem(url: string): Promise<string | undefined> {
  try {
    const connection = await connectAmqp({ url, connectionName: 'tisw-check', connectTimeoutMs: 3000 });
    await connection.close();
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 60_000 });
  return stdout;
}

/**
 * Starts the local broker if it is stopped: the whole node (`rabbitmq-server -detached`) or just the
 * app (`rabbitmqctl start_app`). Returns what it did, or throws saying what the operator should do.
 */
export async function startLocalRabbitMq(): Promise<string> {
  let status: 'node-down' | 'app-stopped' | 'running';
  try {
    const out = await rabbitmqctl('status');
    status = /RabbitMQ version|Runtime/.test(out) && !/rabbit app is not running|not running/i.test(out) ? 'running' : 'app-stopped';
  } catch (err) {
    const message = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'rabbitmqctl is not installed' : String((err as Error).message);
    if (/ENOENT|not installed/.test(message)) {
      throw new Error('RabbitMQ is not reachable and rabbitmqctl is not installed here: install RabbitMQ (apt-get install rabbitmq-server) or set AMQP_URL to a running broker');
    }
    status = /nodedown|unable to perform an operation on node|Error: unable to connect/i.test(message) ? 'node-down' : 'app-stopped';
  }
  try {
    if (status === 'node-down') {
      await run('rabbitmq-server', ['-detached'], { timeout: 30_000 });
      await rabbitmqctl('await_startup');
      return 'started the local RabbitMQ node (rabbitmq-server -detached)';
    }
    if (status === 'app-stopped') {
      await rabbitmqctl('start_app');
      return 'started the local RabbitMQ app (rabbitmqctl start_app)';
    }
    return 'RabbitMQ was already running';
  } catch (err) {
    throw new Error(`could not start the local RabbitMQ (${(err as Error).message.split('\n')[0]}): start it as root with 'rabbitmq-server -detached', or set AMQP_URL to a running broker`);
  }
}

export async function addVhost(vhost: string, user = 'guest'): Promise<void> {
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*');
}

export async function deleteVhost(vhost: string): Promise<void> {
  await rabbitmqctl('delete_vhost', vhost);
}

export async function listVhosts(): Promise<string[]> {
  const out = await rabbitmqctl('list_vhosts', '--quiet', '--no-table-headers');
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

/**
 * A vhost of its own on the broker at `baseUrl` (a test file, a benchmark): the URL that reaches it, and
 * how to remove it with everything in it. Isolates queues without a broker of its own.
 */
export async function openVhost(baseUrl: string, vhost: string): Promise<{ url: string; remove(): Promise<void> }> {
  await addVhost(vhost);
  const url = new URL(baseUrl);
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return { url: url.toString(), remove: () => deleteVhost(vhost).catch(() => undefined) };
}

/**
 * The local stack plays TIS as it runs, and configures what TIS would for synced mode's optional sources:
 * the queue TCS's rejections are dead-lettered to, and the queue COJ_RECEIVED events are forwarded to.
 * These are the values `tisw up` and the tests give COJ_REJECTIONS_QUEUE and COJ_RECEIVED_QUEUE.
 */
export const LOCAL_TIS_QUEUES = { cojRejections: `${QUEUES.cojSigned}.rejected`, cojReceived: 'trainee.queue.coj.received' } as const;

/**
 * Dead-letters what TCS rejects without requeue into LOCAL_TIS_QUEUES.cojRejections, as a TIS operator
 * would: with a policy on TCS's queue, not with queue arguments (the queue exists already, and declaring it
 * again with other arguments fails).
 */
export async function deadLetterTcsRejections(vhost: string): Promise<void> {
  const pattern = `^${QUEUES.cojSigned.replace(/\./g, '\\.')}$`;
  const definition = JSON.stringify({ 'dead-letter-exchange': '', 'dead-letter-routing-key': LOCAL_TIS_QUEUES.cojRejections });
  await rabbitmqctl('set_policy', '-p', vhost, '--apply-to', 'queues', 'tisw-tcs-rejections', pattern, definition);
}

/** The vhost an AMQP URL names ("/" when it names none). */
export function vhostOf(url: string): string {
  const path = new URL(url).pathname;
  return path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
}
