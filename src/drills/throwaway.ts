/**
 * What a drill makes on the local stack and removes again: a RabbitMQ vhost (or a private RabbitMQ node of its
 * own, src/local/private-rabbitmq.ts, where it alarms the broker), MongoDB databases on the local FerretDB, a
 * Temporal namespace on the local dev server, a files directory. Each is named
 * `<drill>-<pid>-<tag>` (databases: `<ESR database>_<drill>_<pid>_<tag>_<side>`), so that a drill killed
 * before its cleanup (SIGKILL, a power cut) is swept by the next one: whatever carries the name of a process
 * that is gone is removed. (A private node's name carries its owner's pid too: the next node started sweeps it.)
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import type { MongoTarget } from '../config/config';
import { msToTs } from '@temporalio/common/lib/time';
import { ensureSearchAttributes } from '../adapters/temporal';
import { isAlive } from '../local/child';
import { startPrivateRabbitMq, type PrivateRabbitMq } from '../local/private-rabbitmq';
import { deleteVhost, listVhosts, openVhost } from '../local/rabbitmq';
import { waitFor } from '../shared/poll';

/** What a drill made, by kind: shown in its report, and checked gone by its test. */
export interface ThrowawayNames {
  vhosts: string[];
  /** Private RabbitMQ nodes, e.g. tisw-private-4711-40123@localhost. */
  nodes: string[];
  databases: string[];
  namespaces: string[];
  dirs: string[];
}

export class Throwaway {
  readonly names: ThrowawayNames = { vhosts: [], nodes: [], databases: [], namespaces: [], dirs: [] };
  /** e.g. tisw-drill-esr-2021-4711-a1b2 */
  readonly id: string;
  private readonly removers: Array<{ what: string; remove: () => Promise<unknown> }> = [];
  private removed = false;
  /** Waits that end the cleanup, after every removal has started. */
  private readonly last: Array<{ what: string; remove: () => Promise<unknown> }> = [];

  /** `drill`: lower case letters, digits and dashes, e.g. esr-2021. */
  constructor(readonly drill: string) {
    this.id = `tisw-drill-${drill}-${process.pid}-${randomBytes(2).toString('hex')}`;
  }

  /** Something to undo at the end (a consumer to stop, a connection to close), before the resources go. */
  onCleanup(what: string, remove: () => Promise<unknown>): void {
    // Made after removeAll (a step still under way when Ctrl-C came): removed at once.
    if (this.removed) void remove().catch(() => undefined);
    else this.removers.push({ what, remove });
  }

  /** Something to undo after every removal (last registered, first undone): the connection the removals need. */
  atTheEnd(what: string, remove: () => Promise<unknown>): void {
    if (this.removed) void remove().catch(() => undefined);
    else this.last.push({ what, remove });
  }

  /** A vhost of its own on the local broker; the URL that reaches it. */
  async vhost(baseUrl: string): Promise<string> {
    const opened = await openVhost(baseUrl, this.id).catch((err: unknown) => {
      throw new Error(`the drill makes a RabbitMQ vhost of its own with rabbitmqctl, which must run as root or as the rabbitmq user: ${(err as Error).message.split('\n')[0]}`);
    });
    this.names.vhosts.push(this.id);
    this.onCleanup(`vhost ${this.id}`, () => deleteVhost(this.id));
    return opened.url;
  }

  /** A RabbitMQ node of its own (its ports, its files), stopped and removed at the end with everything on it. */
  async privateRabbitMq(): Promise<PrivateRabbitMq> {
    const broker = await startPrivateRabbitMq();
    this.names.nodes.push(broker.node);
    this.onCleanup(`RabbitMQ node ${broker.node}`, () => broker.stop());
    return broker;
  }

  /**
   * A database of its own beside `base` (same server), `<base database>_<drill>_<pid>_<tag>_<side>`, dropped
   * at the end. The base's name leads, so that a test run's drill databases are test databases.
   */
  database(base: MongoTarget, side: string): MongoTarget {
    const suffix = `_${this.id.replace(/^tisw-/, '').replace(/-/g, '_')}_${side}`;
    const database = `${base.database.slice(0, 63 - suffix.length)}${suffix}`;
    const target = { database, uri: base.uri.replace(/\/[^/?]*(\?|$)/, `/${database}$1`) };
    this.names.databases.push(database);
    this.onCleanup(`database ${database}`, () => dropDatabase(target));
    return target;
  }

  /** A Temporal namespace of its own, with the project's search attributes; deleted at the end. */
  async namespace(client: Client): Promise<string> {
    const namespace = this.id;
    await client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    this.names.namespaces.push(namespace);
    this.onCleanup(`namespace ${namespace}`, async () => {
      await deleteRuns(client, namespace);
      await client.connection.operatorService.deleteNamespace({ namespace });
      // The server renames it (<name>-deleted-<id>) and reclaims its runs in the background, some seconds:
      // waited for at the very end, beside the rest of the cleanup rather than before it.
      this.last.push({ what: `namespace ${namespace} (being reclaimed by the server)`, remove: () => namespaceGone(client, namespace) });
    });
    await ensureSearchAttributes(client, namespace);
    return namespace;
  }

  dir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${this.id}-`));
    this.names.dirs.push(dir);
    this.onCleanup(`directory ${dir}`, async () => fs.rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** Undoes everything, last made first; each step is tried whatever the others do. What could not be removed. */
  async removeAll(): Promise<string[]> {
    this.removed = true;
    const failed: string[] = [];
    for (const { what, remove } of this.removers.splice(0).reverse()) {
      try {
        await remove();
      } catch (err) {
        failed.push(`${what}: ${(err as Error).message}`);
      }
    }
    for (const { what, remove } of this.last.splice(0).reverse()) {
      try {
        await remove();
      } catch (err) {
        failed.push(`${what}: ${(err as Error).message}`);
      }
    }
    return failed;
  }
}

/**
 * Terminates and deletes every run of the namespace, and waits until visibility counts none. The server's own
 * reclaim of a deleted namespace does the same, but checks for runs left at doubling intervals: with runs
 * still there at its first look it took over a minute here; with none, about 4 s.
 */
async function deleteRuns(client: Client, namespace: string): Promise<void> {
  const service = client.workflowService;
  // Listed again until none is left: a run may start (a child, the lane) while the others are being deleted.
  await waitFor(
    `the runs of namespace ${namespace} to be deleted`,
    async () => {
      const { executions } = await service.listWorkflowExecutions({ namespace, pageSize: 1000 });
      // Deleting a run that is still open terminates it first.
      for (const { execution } of executions) await service.deleteWorkflowExecution({ namespace, workflowExecution: { workflowId: execution?.workflowId ?? '', runId: execution?.runId ?? '' } }).catch(() => undefined);
      return executions.length === 0 && Number((await service.countWorkflowExecutions({ namespace })).count) === 0;
    },
    30_000,
  );
}

/** Resolves once the server lists the namespace no more, not even as deleted (its runs reclaimed). */
async function namespaceGone(client: Client, namespace: string): Promise<void> {
  await waitFor(
    `namespace ${namespace} to be reclaimed`,
    async () => {
      const { namespaces } = await client.workflowService.listNamespaces({ pageSize: 1000, namespaceFilter: { includeDeleted: true } });
      return !namespaces.some((ns) => (ns.namespaceInfo?.name ?? '').startsWith(`${namespace}-deleted-`) || ns.namespaceInfo?.name === namespace);
    },
    60_000,
  );
}

async function dropDatabase(target: MongoTarget): Promise<void> {
  const client = new MongoClient(target.uri, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.db(target.database).dropDatabase();
  } finally {
    await client.close();
  }
}

/** The pid a resource name of this drill carries (vhost, namespace, database or directory), where it is one. */
export function drillOwner(drill: string, name: string): number | undefined {
  const pid = Number(new RegExp(`drill[-_]${drill.replace(/-/g, '[-_]')}[-_](\\d+)[-_][0-9a-f]{4}(?![0-9a-f])`).exec(name)?.[1]);
  return pid > 0 ? pid : undefined;
}

/**
 * Removes what this drill's runs killed before their cleanup left on the local stack: vhosts, namespaces,
 * databases on the server of `mongo`, files directories. Best effort: a sweep that fails never stops a drill.
 */
export async function sweepAbandonedDrills(drill: string, options: { client: Client; mongo: MongoTarget }): Promise<string[]> {
  const abandoned = (name: string): boolean => {
    const pid = drillOwner(drill, name);
    return pid !== undefined && pid !== process.pid && !isAlive(pid);
  };
  const swept: string[] = [];
  const attempt = async (what: string, remove: () => Promise<unknown>): Promise<void> => {
    try {
      await remove();
      swept.push(what);
    } catch {
      // left for the next sweep
    }
  };
  for (const vhost of (await listVhosts().catch(() => [])).filter(abandoned)) await attempt(`vhost ${vhost}`, () => deleteVhost(vhost));
  const namespaces = await options.client.workflowService.listNamespaces({ pageSize: 1000 }).catch(() => undefined);
  for (const name of (namespaces?.namespaces ?? []).map((ns) => ns.namespaceInfo?.name ?? '').filter(abandoned)) {
    await attempt(`namespace ${name}`, () => options.client.connection.operatorService.deleteNamespace({ namespace: name }));
  }
  const mongo = new MongoClient(options.mongo.uri, { serverSelectionTimeoutMS: 5000 });
  try {
    const { databases } = await mongo.db(options.mongo.database).admin().listDatabases({ nameOnly: true });
    for (const { name } of databases.filter((d) => abandoned(d.name))) await attempt(`database ${name}`, () => mongo.db(name).dropDatabase());
  } catch {
    // FerretDB not answering: the drill itself will say so
  } finally {
    await mongo.close();
  }
  for (const name of fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('tisw-drill-') && abandoned(n))) {
    await attempt(`directory ${name}`, async () => fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true }));
  }
  return swept;
}
