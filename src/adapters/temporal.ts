/**
 * Connecting to Temporal the same way from every process (worker, CLI, client API, tests): address,
 * namespace, TLS or mTLS, Temporal Cloud API key, all from the config loader.
 */
import fs from 'node:fs';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor, WorkflowNotFoundError, type ConnectionLike, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { DataConverter, SearchAttributeType } from '@temporalio/common';
import { AesGcmPayloadCodec } from './payload-codec';
import { temporal as proto } from '@temporalio/proto';
import type { Config } from '../config/config';
import { SEARCH_ATTRIBUTES } from '../shared/temporal';
import { acknowledgementSignal, type Acknowledgement } from '../shared/amqp';

type TemporalConfig = Config['temporal'];

function tlsOptions(config: TemporalConfig): ConnectionOptions['tls'] {
  const tls = config.tls;
  if (!tls) return undefined;
  const read = (file: string | undefined): Buffer | undefined => (file === undefined ? undefined : fs.readFileSync(file));
  const crt = read(tls.clientCertPath);
  const key = read(tls.clientKeyPath);
  const ca = read(tls.serverRootCaPath);
  return {
    ...(crt && key && { clientCertPair: { crt, key } }),
    ...(ca && { serverRootCACertificate: ca }),
    ...(tls.serverNameOverride !== undefined && { serverNameOverride: tls.serverNameOverride }),
  };
}

function connectionOptions(config: TemporalConfig): ConnectionOptions & NativeConnectionOptions {
  const tls = tlsOptions(config);
  return {
    address: config.address,
    ...(tls !== undefined && { tls }),
    ...(config.apiKey !== undefined && { apiKey: config.apiKey }),
  };
}

/**
 * A client for starting, signalling and querying workflows. Close `client.connection` when done.
 *
 * Its calls are retried as the SDK's default retries them, except once the connection is closed. Closing it
 * ends every call still in flight as UNAVAILABLE, which the SDK's retry takes as retryable: it calls again on
 * a timer, the closed channel throws "Channel has been shut down" out of that timer, and the process dies of
 * an uncaught exception after its work is done (a test file failed so, its tests all passed). Closed, such a
 * call fails instead, to whoever awaits it.
 */
export async function connectClient(config: TemporalConfig, connectTimeoutMs = 10_000): Promise<Client> {
  let closed = false;
  const retry = defaultGrpcRetryOptions();
  const interceptors = [makeGrpcRetryInterceptor({ ...retry, retryableDecider: (attempt, status) => !closed && retry.retryableDecider(attempt, status) })];
  const connection = await Connection.connect({ ...connectionOptions(config), connectTimeout: connectTimeoutMs, interceptors });
  const close = connection.close.bind(connection);
  connection.close = async () => {
    closed = true;
    await close();
  };
  return clientOver(connection, config);
}

/**
 * A client over a connection already open. A worker passes its NativeConnection: one connection to the
 * server instead of two, and each signal the acknowledgement listener sends goes through the SDK's Rust
 * gRPC stack rather than grpc-js, which costs the worker's main thread less per CoJ (README, Benchmarks).
 */
export function clientOver(connection: ConnectionLike, config: TemporalConfig): Client {
  return new Client({ connection, namespace: config.namespace, ...dataConverter(config) });
}

/** Payload encryption when a key is configured; clients and workers must agree, so both take it from here. */
export function dataConverter(config: Pick<TemporalConfig, 'payloadKey'>): { dataConverter?: DataConverter } {
  return config.payloadKey ? { dataConverter: { payloadCodecs: [new AesGcmPayloadCodec(config.payloadKey)] } } : {};
}

/** The connection a Worker polls over. */
export function connectWorker(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config));
}

const INDEXED_VALUE_TYPE: Record<SearchAttributeType, proto.api.enums.v1.IndexedValueType> = {
  TEXT: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  KEYWORD: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/**
 * Makes sure the project's search attributes exist in the namespace, creating the missing ones. Where
 * the server does not allow that (Temporal Cloud manages them through its own API), the error names
 * exactly what to create, instead of failing later inside a visibility query.
 */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  const wanted: Array<{ name: string; type: SearchAttributeType }> = Object.values(SEARCH_ATTRIBUTES);
  const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = wanted.filter((key) => !(key.name in existing.customAttributes));
  if (missing.length === 0) return [];
  const searchAttributes = Object.fromEntries(missing.map((key) => [key.name, INDEXED_VALUE_TYPE[key.type]]));
  try {
    await client.connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (err) {
    const list = missing.map((key) => `${key.name} (${key.type})`).join(', ');
    throw new Error(`could not register search attributes ${list} in namespace ${namespace}: ${(err as Error).message}. On Temporal Cloud, add them with: tcld namespace search-attributes add`);
  }
  return missing.map((key) => key.name);
}

/**
 * Identities of the workers polling the task queue for workflow tasks, across all its partitions. The
 * plain describeTaskQueue lists only the root partition's pollers: with three workers on the dev server,
 * one of them was never listed. The enhanced mode (deprecated in newer servers, served by 1.29) reports
 * every partition's.
 */
export async function pollerIdentities(client: Client, namespace: string, taskQueue: string): Promise<string[]> {
  const response = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue },
    apiMode: proto.api.enums.v1.DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED,
    reportPollers: true,
    taskQueueTypes: [proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW],
    versions: { unversioned: true },
  });
  // The server remembers a poller for minutes after it stopped; one seen in the last two minutes is alive
  // (a poll lasts at most about a minute).
  const alive = (p: { lastAccessTime?: { seconds?: unknown } | null }): boolean => Date.now() - Number(p.lastAccessTime?.seconds ?? 0) * 1000 < 120_000;
  const identities = Object.values(response.versionsInfo ?? {}).flatMap((v) => Object.values(v.typesInfo ?? {}).flatMap((t) => (t.pollers ?? []).filter(alive).map((p) => p.identity ?? '')));
  return [...new Set(identities)].filter(Boolean);
}

/**
 * Hands an acknowledgement to the run waiting for it, as a signal: the one way every source does it (the
 * acknowledgement listener, the sync watcher, COJ_RECEIVED and TCS's rejections). False when no such run is
 * open (it finished, or never was): late and duplicate acknowledgements are harmless. Any other failure
 * (Temporal unreachable or overloaded) throws, so that the caller's message goes back to its queue.
 */
export async function signalAcknowledgement(client: Client, workflowId: string, acknowledgement: Acknowledgement): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).signal(acknowledgementSignal, acknowledgement);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}
