/**
 * The one place that reads settings. Every process (worker, receivers, CLI, tests) calls loadConfig()
 * once at start; a wrong or missing value stops it with a message naming the variable and what is
 * expected. Values that may hold a secret (passwords inside URLs, API keys) are never echoed: they are
 * collected in `secrets` so that logs and error messages can scrub them (see redact.ts).
 *
 * Every environment variable is stated once, in CONFIG_TABLE: its default, how it is checked and one line
 * of documentation. The loader, `tisw --help` (configHelp) and docs/configuration.md (configMarkdown,
 * written by `npm run docs:config`, checked by test/config-doc.test.ts) are all read from it.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { TASK_QUEUE } from '../shared/temporal';
import { COJ_ACKNOWLEDGEMENT_MODES, type CojAcknowledgementMode } from '../shared/coj';
import { ESR_ACKNOWLEDGEMENT_MODES, type EsrAcknowledgementMode } from '../shared/esr';

export interface TemporalTls {
  /** Client certificate and key (PEM file paths) for mTLS; both or neither. */
  clientCertPath?: string;
  clientKeyPath?: string;
  /** CA bundle to trust instead of the system's (PEM file path). */
  serverRootCaPath?: string;
  /** Overrides the name checked against the server's certificate. */
  serverNameOverride?: string;
}

/** What loadConfig returns. Each field's variable, default and meaning: CONFIG_TABLE. */
export interface Config {
  temporal: {
    /** TEMPORAL_ADDRESS */
    address: string;
    /** TEMPORAL_NAMESPACE */
    namespace: string;
    /** TEMPORAL_TASK_QUEUE */
    taskQueue: string;
    /** Present when TEMPORAL_TLS, any TEMPORAL_TLS_* or an API key is given. */
    tls?: TemporalTls;
    /** TEMPORAL_API_KEY (implies TLS). Secret. */
    apiKey?: string;
    /** TISW_PAYLOAD_KEY, decoded; unset: payloads not encrypted. Secret. */
    payloadKey?: Buffer;
  };
  amqp: {
    /** AMQP_URL */
    url: string;
    /** AMQP_CONFIRM_TIMEOUT_MS */
    confirmTimeoutMs: number;
  };
  mongo: {
    /** TSS_MONGODB_URI, TIS_MONGODB_URI, ESR_MONGODB_URI; each falls back to MONGODB_URI. */
    tss: MongoTarget;
    tis: MongoTarget;
    esr: MongoTarget;
    /** TSS_PROFILES_COLLECTION */
    tssProfilesCollection: string;
  };
  local: {
    /** TISW_DATA_DIR */
    dataDir: string;
    /** TISW_TIS_SYNC_LAG_SECONDS, in ms (the reference TIS sync) */
    tisSyncLagMs: number;
    /** TISW_TEMPORAL_UI_PORT */
    temporalUiPort: number;
    /** TISW_POSTGRESQL_URL */
    postgresUrl: string;
  };
  codecServer: {
    /** TISW_CODEC_PORT */
    port: number;
    /** TISW_CODEC_ALLOWED_ORIGINS */
    allowedOrigins: string[];
  };
  alerts: {
    /** TISW_ALERT_WEBHOOK_URL; undefined: alerts go to the log and the counter only. Secret. */
    webhookUrl?: string;
  };
  coj: {
    /** COJ_ACKNOWLEDGEMENT */
    acknowledgement: CojAcknowledgementMode;
    /** COJ_SYNC_WATCH_SECONDS, in ms */
    syncWatchIntervalMs: number;
    /** COJ_SYNC_WAIT_SECONDS, in ms (WorkerSyncs) */
    syncWaitMs: number;
    /** COJ_SYNC_STALLED_AFTER_SECONDS, in ms */
    syncStalledAfterMs: number;
    /** COJ_RECEIVED_QUEUE; undefined: the store is the only source */
    receivedQueue?: string;
    /** COJ_REJECTIONS_QUEUE; undefined: TCS's rejections are not seen */
    rejectionsQueue?: string;
    /** COJ_SLA_SECONDS, in ms */
    slaMs: number;
    /** COJ_RESEND_INITIAL_SECONDS, in ms */
    resendInitialMs: number;
    /** COJ_RESEND_MAX_SECONDS, in ms */
    resendMaxMs: number;
    /** COJ_REPLY_WAIT_SECONDS, in ms (WorkerReplies) */
    replyWaitMs: number;
    /** COJ_RECONCILE_EVERY_MINUTES, in ms */
    reconcileEveryMs: number;
    /** COJ_RECONCILE_AFTER_SECONDS, in ms */
    reconcileAfterMs: number;
  };
  monitor: {
    /** MONITOR_INTERVAL_SECONDS, in ms */
    intervalMs: number;
    /** MONITOR_IDLE_AFTER_SECONDS, in ms */
    idleAfterMs: number;
    /** MONITOR_ACK_BACKLOG */
    ackBacklog: number;
  };
  esr: {
    /** ESR_ACKNOWLEDGEMENT */
    acknowledgement: EsrAcknowledgementMode;
    /** ESR_OBSERVE_SECONDS, in ms */
    observeIntervalMs: number;
    /** TISW_ESR_FILES_DIR */
    filesDir: string;
  };
  /** TISW_METRICS_PORT; 0 turns the endpoint off. */
  metricsPort: number;
  /** LOG_LEVEL */
  logLevel: LogLevel;
  /** Every configured value that must never be printed. */
  secrets: string[];
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type { CojAcknowledgementMode } from '../shared/coj';
export type { EsrAcknowledgementMode } from '../shared/esr';

export interface MongoTarget {
  uri: string;
  database: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** How one variable's value is checked and turned into what the Config holds. */
export interface ValueType<T> {
  /** What a value must look like, for the documentation. */
  readonly accepts: string;
  /** Throws ConfigError naming the variable; records any secret the value holds before it can be echoed. */
  parse(value: string, name: string, secrets: Set<string>): T;
}

export interface ConfigVariable<T = unknown> {
  readonly doc: string;
  readonly type: ValueType<T>;
  /** Used when the variable is unset or blank, parsed as a set value would be. Absent: optional, or derived by the loader. */
  readonly default?: string;
  /** The default as the documentation shows it, where it is not `default` itself (markdown). */
  readonly shownDefault?: string;
  /** The whole value is a credential: it joins `secrets` and is never shown. */
  readonly secret?: true;
  /** Read outside loadConfig (a shell script, a process launcher); listed here so that it is documented once. */
  readonly readBy?: string;
}

// ---- value types --------------------------------------------------------------------------------------

function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER, unit = 1): ValueType<number> {
  return {
    accepts: max === Number.MAX_SAFE_INTEGER ? `whole number ≥ ${min}` : `whole number ${min}–${max}`,
    parse(value, name) {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < min || n > max) {
        throw new ConfigError(`${name} must be a whole number from ${min} to ${max}; got "${value}"`);
      }
      return n * unit;
    },
  };
}
/** Seconds in the environment, milliseconds in the Config. */
const seconds = (min: number, max?: number): ValueType<number> => wholeNumber(min, max, 1000);
/** Minutes in the environment, milliseconds in the Config. */
const minutes = (min: number): ValueType<number> => wholeNumber(min, undefined, 60_000);
const port = (min: 0 | 1): ValueType<number> => wholeNumber(min, 65535);

function matching<T extends string>(schema: z.ZodType<T>, expected: string, accepts = expected): ValueType<T> {
  return {
    accepts,
    parse(value, name) {
      const result = schema.safeParse(value);
      if (!result.success) throw new ConfigError(`${name} must be ${expected}; got "${value}"`);
      return result.data;
    },
  };
}

function oneOf<T extends string>(choices: readonly T[]): ValueType<T> {
  return matching(z.enum(choices as unknown as [T, ...T[]]), `one of ${choices.join(', ')}`, choices.map((c) => `\`${c}\``).join(' or '));
}

const queueName = matching(z.string().regex(/^[\w.:-]{1,255}$/), 'a queue name (letters, digits, _ . : -)', 'queue name');

const text: ValueType<string> = { accepts: 'text', parse: (value) => value };
const filePath: ValueType<string> = { accepts: 'file path', parse: (value) => value };
const directory: ValueType<string> = { accepts: 'directory', parse: (value) => path.resolve(value) };

const hostPort: ValueType<string> = {
  accepts: 'host:port',
  parse(value, name) {
    const match = /^(\[[0-9a-fA-F:]+\]|[\w.-]+):(\d{1,5})$/.exec(value);
    if (!match || Number(match[2]) > 65535) {
      throw new ConfigError(`${name} must be host:port, e.g. 127.0.0.1:7233 or my-ns.tmprl.cloud:7233; got "${value}"`);
    }
    return value;
  },
};

const boolean: ValueType<boolean> = {
  accepts: '`true` or `false`',
  parse(value, name) {
    if (value !== 'true' && value !== 'false') throw new ConfigError(`${name} must be true or false; got "${value}"`);
    return value === 'true';
  },
};

/** Parses a URL with credentials; records the password as a secret; never echoes the value on error. */
function urlWithSecret(name: string, value: string, schemes: string[], example: string, secrets: Set<string>): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be a URL like ${example} (the value is not shown: it may hold a password)`);
  }
  if (url.password) {
    secrets.add(url.password);
    secrets.add(decodeURIComponent(url.password));
  }
  if (!schemes.includes(url.protocol)) {
    throw new ConfigError(`${name} must start with ${schemes.map((s) => `${s}//`).join(' or ')}, like ${example}; got a ${url.protocol} URL`);
  }
  if (!url.hostname) throw new ConfigError(`${name} names no host; expected a URL like ${example}`);
  return url;
}

const amqpUrl: ValueType<string> = {
  accepts: '`amqp://` or `amqps://` URL',
  parse(value, name, secrets) {
    urlWithSecret(name, value, ['amqp:', 'amqps:'], 'amqp://user:password@host:5672/vhost', secrets);
    return value;
  },
};

const postgresUrl: ValueType<string> = {
  accepts: '`postgres://` URL naming a database',
  parse(value, name, secrets) {
    const url = urlWithSecret(name, value, ['postgres:', 'postgresql:'], 'postgres://postgres@127.0.0.1:5432/tisw_local', secrets);
    if (url.pathname.length <= 1) throw new ConfigError(`${name} must name a database in its path, e.g. /tisw_local`);
    return value;
  },
};

const webhookUrl: ValueType<string> = {
  accepts: '`https://` URL',
  parse(value, name, secrets) {
    urlWithSecret(name, value, ['http:', 'https:'], 'https://hooks.slack.com/services/…', secrets);
    return value;
  },
};

const payloadKey: ValueType<Buffer> = {
  accepts: '32 bytes, base64',
  parse(value, name) {
    const key = Buffer.from(value, 'base64');
    if (key.length !== 32 || key.toString('base64') !== value) {
      throw new ConfigError(`${name} must be 32 bytes in base64 (e.g. from \`openssl rand -base64 32\`); the value is not shown`);
    }
    return key;
  },
};

const mongoUri: ValueType<MongoTarget> = {
  accepts: '`mongodb://` or `mongodb+srv://` URI naming a database',
  parse(value, name, secrets) {
    const example = 'mongodb://user:password@host:27017/tisw?authSource=admin';
    // mongodb+srv URLs and comma-separated host lists are valid MongoDB URIs but not WHATWG URLs,
    // so the database is read from the path by hand rather than through new URL().
    const match = /^(mongodb(?:\+srv)?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)(?:\/([^?]*))?(?:\?.*)?$/.exec(value);
    if (!match) throw new ConfigError(`${name} must be a URI like ${example} (the value is not shown: it may hold a password)`);
    const password = match[3];
    if (password) {
      secrets.add(password);
      secrets.add(decodeURIComponent(password));
    }
    const database = decodeURIComponent(match[5] ?? '');
    if (!/^[\w-]{1,63}$/.test(database)) {
      throw new ConfigError(`${name} must name its database in the path (letters, digits, _ or -), like ${example}`);
    }
    return { uri: value, database };
  },
};

/** Comma-separated origins (scheme://host[:port], as a browser sends them). */
const origins: ValueType<string[]> = {
  accepts: 'comma-separated origins',
  parse(value, name) {
    return value.split(',').map((origin) => {
      const trimmed = origin.trim().replace(/\/$/, '');
      let url: URL | undefined;
      try {
        url = new URL(trimmed);
      } catch {
        // reported below
      }
      if (!url || !/^https?:$/.test(url.protocol) || url.origin !== trimmed) {
        throw new ConfigError(`${name} must be comma-separated origins like https://temporal-ui.example.net; got "${origin.trim()}"`);
      }
      return trimmed;
    });
  },
};

// ---- the table ----------------------------------------------------------------------------------------

/** Every environment variable of tis-workflows, once, in the order the documentation lists them. */
export const CONFIG_TABLE = {
  TEMPORAL_ADDRESS: { doc: 'address of the Temporal frontend (gRPC)', type: hostPort, default: '127.0.0.1:7233' },
  TEMPORAL_NAMESPACE: { doc: 'Temporal namespace', type: matching(z.string().regex(/^[\w.-]+$/), 'a namespace name'), default: 'default' },
  TEMPORAL_TASK_QUEUE: {
    doc: 'the task queue the workers poll and clients start runs on',
    type: matching(z.string().regex(/^[\w.-]{1,200}$/), 'a task queue name (letters, digits, _ . -)'),
    default: TASK_QUEUE,
  },
  TEMPORAL_TLS: { doc: '`true`: TLS with the system CAs (implied by any other `TEMPORAL_TLS_*` or an API key)', type: boolean, default: 'false' },
  TEMPORAL_TLS_CERT: { doc: 'client certificate (PEM) for mTLS; set together with `TEMPORAL_TLS_KEY`', type: filePath },
  TEMPORAL_TLS_KEY: { doc: 'client private key (PEM) for mTLS; set together with `TEMPORAL_TLS_CERT`', type: filePath },
  TEMPORAL_TLS_CA: { doc: "CA bundle (PEM) to trust for the server's certificate", type: filePath, shownDefault: 'system CAs' },
  TEMPORAL_TLS_SERVER_NAME: { doc: 'server name to verify instead of the host in `TEMPORAL_ADDRESS`', type: text },
  TEMPORAL_API_KEY: { doc: 'Temporal Cloud API key (implies TLS)', type: text, secret: true },
  TISW_PAYLOAD_KEY: {
    doc: "encrypt every payload in Temporal's history (AES-256-GCM); every worker and client needs the same key",
    type: payloadKey,
    secret: true,
    shownDefault: 'not encrypted',
  },
  TISW_CODEC_PORT: { doc: 'port of `tisw codec-server` (and of the one `tisw up` starts when `TISW_PAYLOAD_KEY` is set)', type: port(0), default: '8234' },
  TISW_CODEC_ALLOWED_ORIGINS: {
    doc: 'origins of the Temporal UI pages allowed to call the codec server',
    type: origins,
    shownDefault: 'the local UI: `http://127.0.0.1:<ui port>,http://localhost:<ui port>`',
  },
  AMQP_URL: { doc: 'RabbitMQ, with credentials and vhost: `amqps://user:password@host:port/vhost`', type: amqpUrl, default: 'amqp://guest:guest@127.0.0.1:5672' },
  AMQP_CONFIRM_TIMEOUT_MS: { doc: "how long a publish waits for the broker's confirm before it counts as failed", type: wholeNumber(1), default: '10000' },
  MONGODB_URI: { doc: 'MongoDB, with the database in the path; the default of the three below', type: mongoUri, default: 'mongodb://127.0.0.1:27017/tisw' },
  TSS_MONGODB_URI: { doc: "TSS's store (trainee profiles); its path names TSS's database, `trainee` in TIS", type: mongoUri, shownDefault: '`MONGODB_URI`' },
  TSS_PROFILES_COLLECTION: { doc: "TSS's collection of trainee profiles", type: queueName, default: 'TraineeProfile' },
  TIS_MONGODB_URI: { doc: "TIS's store (written by the reference CoJ receiver)", type: mongoUri, shownDefault: '`MONGODB_URI`' },
  ESR_MONGODB_URI: { doc: "ESR's store (GeneratedAppRecords, app files, the file-sequence counter)", type: mongoUri, shownDefault: '`MONGODB_URI`' },
  TISW_DATA_DIR: {
    doc: "local state of `tisw up` (Temporal's database, FerretDB's SQLite files, app files)",
    type: directory,
    shownDefault: '`$XDG_DATA_HOME/tis-workflows`, else `~/.local/share/tis-workflows`',
  },
  TISW_TEMPORAL_UI_PORT: { doc: 'port of the Temporal UI of the local dev server', type: port(1), default: '8233' },
  TISW_POSTGRESQL_URL: { doc: 'PostgreSQL behind the local FerretDB (created if missing)', type: postgresUrl, default: 'postgres://postgres@127.0.0.1:5432/tisw_local' },
  TISW_TIS_SYNC_LAG_SECONDS: { doc: "how long the local reference TIS sync waits before it copies a CoJ stored by TIS back onto TSS's profile", type: seconds(0), default: '2' },
  TISW_ESR_FILES_DIR: { doc: 'where the reference ESR data exporter writes app files (S3 in production)', type: directory, shownDefault: '`$TISW_DATA_DIR/esr-files`' },
  TISW_CACHE_DIR: {
    doc: 'where the built Temporal and FerretDB servers are kept',
    type: directory,
    shownDefault: '`$XDG_CACHE_HOME/tis-workflows`, else `~/.cache/tis-workflows`',
    readBy: 'scripts/build-servers.sh',
  },
  TISW_WORKER_CPU_PROFILE_DIR: {
    doc: 'workers started by `tisw up` or a benchmark write a V8 CPU profile here when they exit',
    type: directory,
    shownDefault: 'no profile',
    readBy: 'src/local/child.ts',
  },
  TISW_METRICS_PORT: { doc: "port of the worker's Prometheus endpoint (`/metrics`); taken, the next free one of the 19 after it (several workers on one host); `0`: none", type: port(0), default: '9464' },
  LOG_LEVEL: { doc: 'log level', type: matching(z.enum(['debug', 'info', 'warn', 'error']), 'one of debug, info, warn, error', '`debug`, `info`, `warn`, `error`'), default: 'info' },
  TISW_ALERT_WEBHOOK_URL: { doc: 'Slack-compatible incoming webhook for alerts', type: webhookUrl, secret: true, shownDefault: 'none: log and metric only' },
  COJ_ACKNOWLEDGEMENT: {
    doc: "what acknowledges a CoJ: `synced`, TSS's profile shows the signature synced back by TIS (TIS as it runs today); `reply`, the receiver's reply (the reply contract)",
    type: oneOf(COJ_ACKNOWLEDGEMENT_MODES),
    default: 'synced',
  },
  COJ_SYNC_WATCH_SECONDS: { doc: "`synced` mode: how often the cluster's one sync watcher reads TSS's store for the CoJs waiting", type: seconds(1), default: '5' },
  COJ_SYNC_WAIT_SECONDS: {
    // At most 8, as COJ_REPLY_WAIT_SECONDS: the wait runs inside Temporal's 10 s workflow-task timeout.
    doc: "`synced` mode: how long a CoJ's first publish waits in the worker for TSS's profile to show it synced (the worker reads the profiles of all its waiting CoJs every 0.25 s, in one query) before the run waits for the sync watcher; `0`: never",
    type: seconds(0, 8),
    default: '5',
  },
  COJ_SYNC_STALLED_AFTER_SECONDS: {
    doc: '`synced` mode: CoJs taken from TCS\'s queue and none synced back for this long raise `coj-sync-stalled`',
    type: seconds(1),
    default: '180',
  },
  COJ_RECEIVED_QUEUE: { doc: '`synced` mode: a queue where TIS forwards its `COJ_RECEIVED` events, a second source beside the store', type: queueName, shownDefault: 'none' },
  COJ_REJECTIONS_QUEUE: {
    doc: "`synced` mode: the queue TCS's rejections are dead-lettered to (a dead-letter policy on TCS's queue); a CoJ found there ends `rejected`",
    type: queueName,
    shownDefault: 'none: a rejection is never seen',
  },
  COJ_SLA_SECONDS: { doc: 'a CoJ not acknowledged this long after signing raises `coj-late`', type: seconds(1), default: '900' },
  COJ_RESEND_INITIAL_SECONDS: { doc: "first wait for TIS's acknowledgement before publishing again; doubles after each resend", type: seconds(1), default: '60' },
  COJ_RESEND_MAX_SECONDS: { doc: 'the longest that wait grows to', type: seconds(1), default: '600' },
  COJ_REPLY_WAIT_SECONDS: {
    // At most 8: the wait runs inside Temporal's 10 s workflow-task timeout.
    doc: "how long a CoJ's first publish waits in the worker for TIS's reply before the run waits for it as a signal; `0`: never",
    type: seconds(0, 8),
    default: '5',
  },
  // 2 min and 120 s: a CoJ saved but never given a workflow is alerted within 4 min of signing (docs/operating.md, "Detection time").
  COJ_RECONCILE_EVERY_MINUTES: { doc: 'how often reconciliation runs', type: minutes(1), default: '2' },
  COJ_RECONCILE_AFTER_SECONDS: { doc: 'reconciliation looks at CoJs signed longer ago than this with `syncedAt` null', type: seconds(0), default: '120' },
  ESR_ACKNOWLEDGEMENT: {
    doc: "what acknowledges an ESR command: `observed`, its file recorded in the exporter's store and no due record left (the exporter as it runs today); `reply`, the exporter's reply",
    type: oneOf(ESR_ACKNOWLEDGEMENT_MODES),
    default: 'observed',
  },
  ESR_OBSERVE_SECONDS: { doc: "`observed` mode: the longest interval between a run's reads of the exporter's store for the command's file (the first comes 0.5 s after the publish)", type: seconds(1), default: '5' },
  MONITOR_INTERVAL_SECONDS: { doc: 'how often the system monitor looks at the broker', type: seconds(1), default: '30' },
  MONITOR_IDLE_AFTER_SECONDS: { doc: 'a queue with messages ready and no consumer (or no progress) this long raises `queue-idle` (`queue-no-progress`)', type: seconds(0), default: '120' },
  MONITOR_ACK_BACKLOG: { doc: 'more replies than this waiting on `tisw.queue.acknowledgement` raise `ack-queue-growing`', type: wholeNumber(1), default: '100' },
} as const satisfies Record<string, ConfigVariable>;

export type ConfigVariableName = keyof typeof CONFIG_TABLE;

type Table = typeof CONFIG_TABLE;
type ValueOf<K extends ConfigVariableName> = Table[K]['type'] extends ValueType<infer T> ? T : never;
type Read<K extends ConfigVariableName> = Table[K] extends { default: string } ? ValueOf<K> : ValueOf<K> | undefined;

// ---- the loader ---------------------------------------------------------------------------------------

/** Reads and validates the environment; throws ConfigError naming the first wrong variable. */
export function loadConfig(env: Env = process.env): Config {
  const secrets = new Set<string>();
  const read = <K extends ConfigVariableName>(name: K): Read<K> => {
    const variable: ConfigVariable = CONFIG_TABLE[name];
    const set = nonEmpty(env[name]);
    if (set !== undefined && variable.secret) secrets.add(set);
    const value = set ?? variable.default;
    return (value === undefined ? undefined : variable.type.parse(value, name, secrets)) as Read<K>;
  };

  const apiKey = read('TEMPORAL_API_KEY');
  const tls = temporalTls(read('TEMPORAL_TLS'), apiKey !== undefined, {
    clientCertPath: read('TEMPORAL_TLS_CERT'),
    clientKeyPath: read('TEMPORAL_TLS_KEY'),
    serverRootCaPath: read('TEMPORAL_TLS_CA'),
    serverNameOverride: read('TEMPORAL_TLS_SERVER_NAME'),
  });
  const key = read('TISW_PAYLOAD_KEY');
  const mongo = read('MONGODB_URI');
  const dataDir =
    read('TISW_DATA_DIR') ??
    path.resolve(nonEmpty(env.XDG_DATA_HOME) ?? path.join(nonEmpty(env.HOME) ?? os.homedir(), '.local', 'share'), 'tis-workflows');
  const temporalUiPort = read('TISW_TEMPORAL_UI_PORT');
  const webhook = read('TISW_ALERT_WEBHOOK_URL');

  return {
    temporal: {
      address: read('TEMPORAL_ADDRESS'),
      namespace: read('TEMPORAL_NAMESPACE'),
      taskQueue: read('TEMPORAL_TASK_QUEUE'),
      ...(tls && { tls }),
      ...(apiKey !== undefined && { apiKey }),
      ...(key !== undefined && { payloadKey: key }),
    },
    amqp: { url: read('AMQP_URL'), confirmTimeoutMs: read('AMQP_CONFIRM_TIMEOUT_MS') },
    mongo: {
      tss: read('TSS_MONGODB_URI') ?? mongo,
      tis: read('TIS_MONGODB_URI') ?? mongo,
      esr: read('ESR_MONGODB_URI') ?? mongo,
      tssProfilesCollection: read('TSS_PROFILES_COLLECTION'),
    },
    local: { dataDir, tisSyncLagMs: read('TISW_TIS_SYNC_LAG_SECONDS'), temporalUiPort, postgresUrl: read('TISW_POSTGRESQL_URL') },
    codecServer: {
      port: read('TISW_CODEC_PORT'),
      allowedOrigins: read('TISW_CODEC_ALLOWED_ORIGINS') ?? [`http://127.0.0.1:${temporalUiPort}`, `http://localhost:${temporalUiPort}`],
    },
    alerts: webhook === undefined ? {} : { webhookUrl: webhook },
    coj: {
      acknowledgement: read('COJ_ACKNOWLEDGEMENT'),
      syncWatchIntervalMs: read('COJ_SYNC_WATCH_SECONDS'),
      syncWaitMs: read('COJ_SYNC_WAIT_SECONDS'),
      syncStalledAfterMs: read('COJ_SYNC_STALLED_AFTER_SECONDS'),
      ...optional('receivedQueue', read('COJ_RECEIVED_QUEUE')),
      ...optional('rejectionsQueue', read('COJ_REJECTIONS_QUEUE')),
      slaMs: read('COJ_SLA_SECONDS'),
      resendInitialMs: read('COJ_RESEND_INITIAL_SECONDS'),
      resendMaxMs: read('COJ_RESEND_MAX_SECONDS'),
      replyWaitMs: read('COJ_REPLY_WAIT_SECONDS'),
      reconcileEveryMs: read('COJ_RECONCILE_EVERY_MINUTES'),
      reconcileAfterMs: read('COJ_RECONCILE_AFTER_SECONDS'),
    },
    monitor: {
      intervalMs: read('MONITOR_INTERVAL_SECONDS'),
      idleAfterMs: read('MONITOR_IDLE_AFTER_SECONDS'),
      ackBacklog: read('MONITOR_ACK_BACKLOG'),
    },
    esr: {
      acknowledgement: read('ESR_ACKNOWLEDGEMENT'),
      observeIntervalMs: read('ESR_OBSERVE_SECONDS'),
      filesDir: read('TISW_ESR_FILES_DIR') ?? path.join(dataDir, 'esr-files'),
    },
    metricsPort: read('TISW_METRICS_PORT'),
    logLevel: read('LOG_LEVEL'),
    secrets: [...secrets],
  };
}

/** `{ [key]: value }` when there is a value, else nothing: optional fields stay absent rather than undefined. */
function optional<K extends string, T>(key: K, value: T | undefined): Partial<Record<K, T>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, T>);
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

type Optional<T> = { [K in keyof T]-?: T[K] | undefined };

function temporalTls(enabled: boolean, apiKey: boolean, given: Optional<TemporalTls>): TemporalTls | undefined {
  if ((given.clientCertPath === undefined) !== (given.clientKeyPath === undefined)) {
    throw new ConfigError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together (PEM file paths for mTLS)');
  }
  const tls: TemporalTls = {};
  for (const [field, value] of Object.entries(given) as Array<[keyof TemporalTls, string | undefined]>) {
    if (value !== undefined) tls[field] = value;
  }
  return enabled || apiKey || Object.keys(tls).length > 0 ? tls : undefined;
}

// ---- the table as documentation ------------------------------------------------------------------------

function defaultText(variable: ConfigVariable): string | undefined {
  if (variable.shownDefault !== undefined) return variable.shownDefault;
  return variable.default === undefined ? undefined : `\`${variable.default}\``;
}

const plain = (markdown: string): string => markdown.replace(/`/g, '');

/** The variables loadConfig reads, each with its meaning and default, as `tisw --help` lists them. */
export const CONFIG_VARIABLES: ReadonlyArray<readonly [name: string, meaning: string]> = Object.entries(CONFIG_TABLE).map(
  ([name, variable]: [string, ConfigVariable]) => {
    const shown = defaultText(variable);
    const notes = [variable.secret && 'secret', shown !== undefined && `default ${plain(shown)}`].filter(Boolean);
    return [name, `${plain(variable.doc)}${notes.length ? ` (${notes.join('; ')})` : ''}`] as const;
  },
);

/** The "Configuration comes from the environment" part of `tisw --help`. */
export function configHelp(): string {
  return `\nConfiguration comes from the environment:\n${CONFIG_VARIABLES.map(([name, meaning]) => `  ${name}\n      ${meaning}`).join('\n')}`;
}

/** The table as markdown, for docs/configuration.md (written between markers by `npm run docs:config`). */
export function configMarkdown(): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = Object.entries(CONFIG_TABLE).map(([name, variable]: [string, ConfigVariable]) => {
    const meaning = `${variable.doc}${variable.secret ? ' (secret: never printed)' : ''}${variable.readBy ? ` (read by \`${variable.readBy}\`)` : ''}`;
    return `| \`${name}\` | ${cell(meaning)} | ${cell(variable.type.accepts)} | ${cell(defaultText(variable) ?? '—')} |`;
  });
  return ['| variable | meaning | value | default |', '|---|---|---|---|', ...rows].join('\n');
}
