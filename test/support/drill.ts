/** What every `tisw drill` must do: refuse servers that are not on this machine, and leave nothing behind. */
import fs from 'node:fs';
import os from 'node:os';
import { MongoClient } from 'mongodb';
import { loadConfig, type Config } from '../../src/config/config';
import type { ThrowawayNames } from '../../src/drills/throwaway';
import { listVhosts, rabbitmqctl } from '../../src/local/rabbitmq';
import { tisw } from './processes';
import { testClient } from './system';

/**
 * `run` (the drill's function) refuses each of a remote broker, Temporal and `storeVariable`'s MongoDB,
 * naming the setting and its host; the CLI exits 1 saying so, without printing the URL's password; `--help`
 * shows its usage.
 */
export async function expectLocalOnly(drill: string, run: (config: Config) => Promise<unknown>, storeVariable: string): Promise<{ help: string }> {
  for (const [variable, value, host] of [
    ['AMQP_URL', 'amqp://guest:guest@rabbitmq.internal:5672/', 'rabbitmq.internal'],
    ['TEMPORAL_ADDRESS', 'temporal.internal:7233', 'temporal.internal'],
    [storeVariable, 'mongodb://db.internal:27017/tisw_test', 'db.internal'],
  ] as const) {
    await expect(run(loadConfig({ ...process.env, [variable]: value }))).rejects.toThrow(`${variable} names ${host}`);
  }
  const help = await tisw(['drill', drill, '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain(`Usage: tisw drill ${drill} [options]`);
  const cli = await tisw(['drill', drill], { AMQP_URL: 'amqp://tisw:hunter2@rabbitmq.internal:5672/tis' });
  expect(cli.code).toBe(1);
  expect(cli.stderr).toMatch(/local stack only .*AMQP_URL names rabbitmq\.internal: nothing was made/);
  expect(cli.stderr).not.toContain('hunter2');
  return { help: help.stdout };
}

/** The names on the local stack that a drill's leftovers would have: every vhost, private node, database and namespace (deleted ones still being reclaimed too). */
export async function namesOnTheStack(config: Config): Promise<{ vhosts: string[]; nodes: string; databases: string[]; namespaces: string[] }> {
  const mongo = new MongoClient(config.mongo.tss.uri, { serverSelectionTimeoutMS: 5000 });
  let databases: string[];
  try {
    databases = (await mongo.db('admin').admin().listDatabases({ nameOnly: true })).databases.map((d) => d.name);
  } finally {
    await mongo.close();
  }
  const client = await testClient(config);
  let namespaces: string[];
  try {
    const listed = await client.workflowService.listNamespaces({ pageSize: 1000, namespaceFilter: { includeDeleted: true } });
    namespaces = listed.namespaces.map((ns) => ns.namespaceInfo?.name ?? '');
  } finally {
    await client.connection.close();
  }
  return { vhosts: await listVhosts(), nodes: await rabbitmqctl('eval', 'net_adm:names().').catch(() => ''), databases, namespaces };
}

/** What of `made` (a drill report's) is still on the local stack, a line each. */
export async function leftOnTheStack(made: ThrowawayNames, config: Config): Promise<string[]> {
  const now = await namesOnTheStack(config);
  return [
    ...made.vhosts.filter((v) => now.vhosts.includes(v)).map((v) => `vhost ${v}`),
    ...made.nodes.filter((n) => now.nodes.includes(`"${n.split('@')[0]}"`)).map((n) => `node ${n}`),
    ...made.databases.filter((d) => now.databases.includes(d)).map((d) => `database ${d}`),
    ...made.namespaces.flatMap((ns) => now.namespaces.filter((name) => name.startsWith(ns)).map((name) => `namespace ${name}`)),
    ...made.dirs.filter((dir) => fs.existsSync(dir)).map((dir) => `directory ${dir}`),
  ];
}

/** Everything on the local stack (and in the temp directory) named as this process's run of `drill`: empty once a stopped drill has cleaned up. */
export async function ownedOnTheStack(drill: string, config: Config): Promise<string[]> {
  const mine = (name: string): boolean => new RegExp(`drill[-_]${drill.replace('-', '[-_]')}[-_]${process.pid}[-_]`).test(name);
  const now = await namesOnTheStack(config);
  const nodes = now.nodes.includes(`tisw-private-${process.pid}-`) ? [`a private node of pid ${process.pid}`] : [];
  return [...now.vhosts.filter(mine), ...nodes, ...now.databases.filter(mine), ...now.namespaces.filter(mine), ...fs.readdirSync(os.tmpdir()).filter(mine)];
}
