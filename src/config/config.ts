/**
 * The one place that reads settings. Every process (worker, receivers, CLI, tests) calls loadConfig()
 * once at start; a wrong or missing value stops it with a message naming the variable and what is
 * expected. Values that may hold a secret (passwords inside URLs, API keys) are never echoed: they are
 * collected in `secrets` so that logs and error messages can scrub them (see redact.ts).
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { TASK_QUEUE } from '../shared/contract';

export interface TemporalTls {
  /** Client certificate and key (PEM file paths) for mTLS; both or neither. */
  clientCertPath?: string;
  clientKeyPath?: string;
  /** CA bundle to trust instead of the system's (PEM file path). */
  serverRootCaPath?: string;
  /** Overrides the name checked against the server's certificate. */
  serverNameOverride?: string;
}

export interface Config {
  temporal: {
    /** host:port of the Temporal frontend. @default 127.0.0.1:7233 */
    address: string;
    /** @default default */
    namespace: string;
    /** The task queue our workers poll. @default tis-workflows */
    taskQueue: string;
    /** TLS settings; present when any TEMPORAL_TLS_* is set or an API key is given. */
    tls?: TemporalTls;
    /** Temporal Cloud API key (implies TLS). Secret. */
    apiKey?: string;
    /** 32-byte key (TISW_PAYLOAD_KEY, base64) to encrypt payloads in Temporal's history; unset: not encrypted. Secret. */
    payloadKey?: Buffer;
  };
  amqp: {
    /** amqp:// or amqps:// URL, with credentials and vhost. @default amqp://guest:guest@127.0.0.1:5672 */
    url: string;
    /** How long a publish waits for the broker's confirm before it counts as failed. @default 10000 */
    confirmTimeoutMs: number;
  };
  mongo: {
    /** One URI per store; each names its database in the path. Default: MONGODB_URI for all three. */
    tss: MongoTarget;
    tis: MongoTarget;
    esr: MongoTarget;
  };
  local: {
    /** Where `tisw up` keeps Temporal's state, FerretDB's SQLite files, app files. */
    dataDir: string;
    /** Port of the Temporal UI served by the local dev server. @default 8233 */
    temporalUiPort: number;
    /** PostgreSQL database behind the local FerretDB. @default postgres://postgres@127.0.0.1:5432/tisw_local */
    postgresUrl: string;
  };
  codecServer: {
    /** Port of `tisw codec-server` (and of the one `tisw up` starts when TISW_PAYLOAD_KEY is set). @default 8234 */
    port: number;
    /** Origins of the Temporal UI pages that may call it. @default the local UI: http://127.0.0.1:<ui port>, http://localhost:<ui port> */
    allowedOrigins: string[];
  };
  alerts: {
    /** Slack-compatible incoming webhook; undefined: alerts go to the log and the counter only. Secret. */
    webhookUrl?: string;
  };
  coj: {
    /** A CoJ not acknowledged this long after it was signed is late: one alert. @default 900 s */
    slaMs: number;
    /** First wait for TIS's acknowledgement before publishing again; doubles up to resendMaxMs. @default 60 s */
    resendInitialMs: number;
    /** @default 600 s */
    resendMaxMs: number;
    /** How long a signature's first publish waits in the worker for TIS's reply (WorkerReplies); 0: never. @default 5 s */
    replyWaitMs: number;
    /** Reconciliation: how often it runs. @default 2 min */
    reconcileEveryMs: number;
    /** Reconciliation: a CoJ signed longer ago than this with syncedAt null must have a workflow. @default 120 s */
    reconcileAfterMs: number;
  };
  monitor: {
    /** How often the system monitor looks at the broker. @default 30 s */
    intervalMs: number;
    /** A queue with messages ready and no consumer (or no progress) this long is idle: one alert. @default 120 s */
    idleAfterMs: number;
    /** The acknowledgement queue holding more than this many replies is growing: one alert. @default 100 */
    ackBacklog: number;
  };
  esr: {
    /** Where the reference ESR data exporter writes app files (S3 in production). @default <dataDir>/esr-files */
    filesDir: string;
  };
  /** Port of the worker's Prometheus endpoint; 0 turns it off. @default 9464 */
  metricsPort: number;
  /** @default info */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Every configured value that must never be printed. */
  secrets: string[];
}

export interface MongoTarget {
  uri: string;
  database: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const DEFAULTS = {
  TEMPORAL_ADDRESS: '127.0.0.1:7233',
  TEMPORAL_NAMESPACE: 'default',
  TEMPORAL_TASK_QUEUE: TASK_QUEUE,
  AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
  AMQP_CONFIRM_TIMEOUT_MS: '10000',
  MONGODB_URI: 'mongodb://127.0.0.1:27017/tisw',
  TISW_TEMPORAL_UI_PORT: '8233',
  TISW_POSTGRESQL_URL: 'postgres://postgres@127.0.0.1:5432/tisw_local',
  TISW_METRICS_PORT: '9464',
  TISW_CODEC_PORT: '8234',
  LOG_LEVEL: 'info',
  COJ_SLA_SECONDS: '900',
  COJ_RESEND_INITIAL_SECONDS: '60',
  COJ_RESEND_MAX_SECONDS: '600',
  // Well inside Temporal's 10 s workflow-task timeout, which the wait runs within.
  COJ_REPLY_WAIT_SECONDS: '5',
  // 2 min and 120 s: a CoJ saved but never given a workflow is alerted within 4 min of signing (README, "Detection time").
  COJ_RECONCILE_EVERY_MINUTES: '2',
  COJ_RECONCILE_AFTER_SECONDS: '120',
  MONITOR_INTERVAL_SECONDS: '30',
  MONITOR_IDLE_AFTER_SECONDS: '120',
  MONITOR_ACK_BACKLOG: '100',
} as const;

/** Reads and validates the environment; throws ConfigError naming the first wrong variable. */
export function loadConfig(env: Env = process.env): Config {
  const secrets = new Set<string>();
  const get = (name: keyof typeof DEFAULTS): string => nonEmpty(env[name]) ?? DEFAULTS[name];

  const apiKey = nonEmpty(env.TEMPORAL_API_KEY);
  if (apiKey) secrets.add(apiKey);
  const tls = temporalTls(env, apiKey !== undefined);

  const mongoDefault = nonEmpty(env.MONGODB_URI) ?? DEFAULTS.MONGODB_URI;
  const mongo = (name: string): MongoTarget =>
    mongoTarget(name, nonEmpty(env[name]) ?? mongoDefault, secrets);

  const config: Config = {
    temporal: {
      address: hostPort('TEMPORAL_ADDRESS', get('TEMPORAL_ADDRESS')),
      namespace: parse('TEMPORAL_NAMESPACE', get('TEMPORAL_NAMESPACE'), z.string().regex(/^[\w.-]+$/), 'a namespace name'),
      taskQueue: parse('TEMPORAL_TASK_QUEUE', get('TEMPORAL_TASK_QUEUE'), z.string().regex(/^[\w.-]{1,200}$/), 'a task queue name (letters, digits, _ . -)'),
      ...(tls && { tls }),
      ...(apiKey !== undefined && { apiKey }),
      ...payloadKey(nonEmpty(env.TISW_PAYLOAD_KEY), secrets),
    },
    amqp: {
      url: amqpUrl(get('AMQP_URL'), secrets),
      confirmTimeoutMs: integer('AMQP_CONFIRM_TIMEOUT_MS', get('AMQP_CONFIRM_TIMEOUT_MS'), 1),
    },
    mongo: {
      tss: mongo('TSS_MONGODB_URI'),
      tis: mongo('TIS_MONGODB_URI'),
      esr: mongo('ESR_MONGODB_URI'),
    },
    local: {
      dataDir: path.resolve(
        nonEmpty(env.TISW_DATA_DIR) ??
          path.join(nonEmpty(env.XDG_DATA_HOME) ?? path.join(nonEmpty(env.HOME) ?? os.homedir(), '.local', 'share'), 'tis-workflows'),
      ),
      temporalUiPort: integer('TISW_TEMPORAL_UI_PORT', get('TISW_TEMPORAL_UI_PORT'), 1, 65535),
      postgresUrl: postgresUrl(get('TISW_POSTGRESQL_URL'), secrets),
    },
    codecServer: { port: integer('TISW_CODEC_PORT', get('TISW_CODEC_PORT'), 0, 65535), allowedOrigins: [] },
    alerts: webhook(nonEmpty(env.TISW_ALERT_WEBHOOK_URL), secrets),
    coj: {
      slaMs: 1000 * integer('COJ_SLA_SECONDS', get('COJ_SLA_SECONDS'), 1),
      resendInitialMs: 1000 * integer('COJ_RESEND_INITIAL_SECONDS', get('COJ_RESEND_INITIAL_SECONDS'), 1),
      resendMaxMs: 1000 * integer('COJ_RESEND_MAX_SECONDS', get('COJ_RESEND_MAX_SECONDS'), 1),
      replyWaitMs: 1000 * integer('COJ_REPLY_WAIT_SECONDS', get('COJ_REPLY_WAIT_SECONDS'), 0, 8),
      reconcileEveryMs: 60_000 * integer('COJ_RECONCILE_EVERY_MINUTES', get('COJ_RECONCILE_EVERY_MINUTES'), 1),
      reconcileAfterMs: 1000 * integer('COJ_RECONCILE_AFTER_SECONDS', get('COJ_RECONCILE_AFTER_SECONDS'), 0),
    },
    monitor: {
      intervalMs: 1000 * integer('MONITOR_INTERVAL_SECONDS', get('MONITOR_INTERVAL_SECONDS'), 1),
      idleAfterMs: 1000 * integer('MONITOR_IDLE_AFTER_SECONDS', get('MONITOR_IDLE_AFTER_SECONDS'), 0),
      ackBacklog: integer('MONITOR_ACK_BACKLOG', get('MONITOR_ACK_BACKLOG'), 1),
    },
    esr: { filesDir: '' },
    metricsPort: integer('TISW_METRICS_PORT', get('TISW_METRICS_PORT'), 0, 65535),
    logLevel: parse('LOG_LEVEL', get('LOG_LEVEL'), z.enum(['debug', 'info', 'warn', 'error']), 'one of debug, info, warn, error'),
    secrets: [],
  };
  config.esr.filesDir = path.resolve(nonEmpty(env.TISW_ESR_FILES_DIR) ?? path.join(config.local.dataDir, 'esr-files'));
  config.codecServer.allowedOrigins = origins(nonEmpty(env.TISW_CODEC_ALLOWED_ORIGINS), config.local.temporalUiPort);
  config.secrets = [...secrets];
  return config;
}

/** Comma-separated origins (scheme://host[:port], as a browser sends them); default: the local Temporal UI. */
function origins(value: string | undefined, uiPort: number): string[] {
  if (value === undefined) return [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`];
  return value.split(',').map((origin) => {
    const trimmed = origin.trim().replace(/\/$/, '');
    let url: URL | undefined;
    try {
      url = new URL(trimmed);
    } catch {
      // reported below
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.origin !== trimmed) {
      throw new ConfigError(`TISW_CODEC_ALLOWED_ORIGINS must be comma-separated origins like https://temporal-ui.example.net; got "${origin.trim()}"`);
    }
    return trimmed;
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function parse<T>(name: string, value: string, schema: z.ZodType<T>, expected: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new ConfigError(`${name} must be ${expected}; got "${value}"`);
  return result.data;
}

function integer(name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}; got "${value}"`);
  }
  return n;
}

function hostPort(name: string, value: string): string {
  const match = /^(\[[0-9a-fA-F:]+\]|[\w.-]+):(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) {
    throw new ConfigError(`${name} must be host:port, e.g. 127.0.0.1:7233 or my-ns.tmprl.cloud:7233; got "${value}"`);
  }
  return value;
}

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

function amqpUrl(value: string, secrets: Set<string>): string {
  urlWithSecret('AMQP_URL', value, ['amqp:', 'amqps:'], 'amqp://user:password@host:5672/vhost', secrets);
  return value;
}

function postgresUrl(value: string, secrets: Set<string>): string {
  const url = urlWithSecret('TISW_POSTGRESQL_URL', value, ['postgres:', 'postgresql:'], 'postgres://postgres@127.0.0.1:5432/tisw_local', secrets);
  if (url.pathname.length <= 1) throw new ConfigError('TISW_POSTGRESQL_URL must name a database in its path, e.g. /tisw_local');
  return value;
}

function payloadKey(value: string | undefined, secrets: Set<string>): { payloadKey?: Buffer } {
  if (value === undefined) return {};
  secrets.add(value);
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32 || key.toString('base64') !== value) {
    throw new ConfigError('TISW_PAYLOAD_KEY must be 32 bytes in base64 (e.g. from `openssl rand -base64 32`); the value is not shown');
  }
  return { payloadKey: key };
}

function webhook(value: string | undefined, secrets: Set<string>): Config['alerts'] {
  if (value === undefined) return {};
  // The whole URL is the credential of a Slack-style webhook.
  secrets.add(value);
  urlWithSecret('TISW_ALERT_WEBHOOK_URL', value, ['http:', 'https:'], 'https://hooks.slack.com/services/…', secrets);
  return { webhookUrl: value };
}

function mongoTarget(name: string, value: string, secrets: Set<string>): MongoTarget {
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
}

function temporalTls(env: Env, apiKey: boolean): TemporalTls | undefined {
  const tls: TemporalTls = {};
  const cert = nonEmpty(env.TEMPORAL_TLS_CERT);
  const key = nonEmpty(env.TEMPORAL_TLS_KEY);
  const ca = nonEmpty(env.TEMPORAL_TLS_CA);
  const serverName = nonEmpty(env.TEMPORAL_TLS_SERVER_NAME);
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together (PEM file paths for mTLS)');
  }
  if (cert !== undefined) tls.clientCertPath = cert;
  if (key !== undefined) tls.clientKeyPath = key;
  if (ca !== undefined) tls.serverRootCaPath = ca;
  if (serverName !== undefined) tls.serverNameOverride = serverName;
  const enabled = apiKey || Object.keys(tls).length > 0 || nonEmpty(env.TEMPORAL_TLS) === 'true';
  return enabled ? tls : undefined;
}

/** The variables loadConfig reads, with their defaults, for `--help` texts and the README. */
export const CONFIG_VARIABLES: ReadonlyArray<readonly [name: string, meaning: string]> = [
  ['TEMPORAL_ADDRESS', `Temporal frontend host:port (default ${DEFAULTS.TEMPORAL_ADDRESS})`],
  ['TEMPORAL_NAMESPACE', `Temporal namespace (default ${DEFAULTS.TEMPORAL_NAMESPACE})`],
  ['TEMPORAL_TASK_QUEUE', `task queue the workers poll (default ${DEFAULTS.TEMPORAL_TASK_QUEUE})`],
  ['TEMPORAL_TLS', 'true: TLS with the system CAs (implied by any other TEMPORAL_TLS_* or an API key)'],
  ['TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY', 'client certificate and key (PEM paths) for mTLS'],
  ['TEMPORAL_TLS_CA', 'CA bundle (PEM path) to trust for the Temporal server'],
  ['TEMPORAL_TLS_SERVER_NAME', 'server name to verify instead of the host in TEMPORAL_ADDRESS'],
  ['TEMPORAL_API_KEY', 'Temporal Cloud API key (secret)'],
  ['TISW_PAYLOAD_KEY', 'base64 32-byte key: encrypt payloads in Temporal\'s history (secret; workers and clients alike)'],
  ['TISW_CODEC_PORT', `port of the codec server that lets the Temporal UI show encrypted payloads (default ${DEFAULTS.TISW_CODEC_PORT})`],
  ['TISW_CODEC_ALLOWED_ORIGINS', 'comma-separated origins of the Temporal UI allowed to call the codec server (default the local UI)'],
  ['AMQP_URL', `RabbitMQ URL, amqp:// or amqps:// (default ${DEFAULTS.AMQP_URL.replace(':guest@', ':***@')})`],
  ['AMQP_CONFIRM_TIMEOUT_MS', `how long a publish waits for the broker's confirm (default ${DEFAULTS.AMQP_CONFIRM_TIMEOUT_MS})`],
  ['MONGODB_URI', `MongoDB URI with the database in its path (default ${DEFAULTS.MONGODB_URI})`],
  ['TSS_MONGODB_URI / TIS_MONGODB_URI / ESR_MONGODB_URI', 'per-store MongoDB URIs (default MONGODB_URI)'],
  ['TISW_DATA_DIR', 'local state of `tisw up` (default $XDG_DATA_HOME/tis-workflows or ~/.local/share/tis-workflows)'],
  ['TISW_TEMPORAL_UI_PORT', `local Temporal UI port (default ${DEFAULTS.TISW_TEMPORAL_UI_PORT})`],
  ['TISW_POSTGRESQL_URL', `PostgreSQL behind the local FerretDB (default ${DEFAULTS.TISW_POSTGRESQL_URL})`],
  ['TISW_ESR_FILES_DIR', 'where the reference ESR data exporter writes app files (default $TISW_DATA_DIR/esr-files)'],
  ['TISW_METRICS_PORT', `worker Prometheus port, 0 for none (default ${DEFAULTS.TISW_METRICS_PORT})`],
  ['LOG_LEVEL', `debug, info, warn or error (default ${DEFAULTS.LOG_LEVEL})`],
  ['TISW_ALERT_WEBHOOK_URL', 'Slack-compatible webhook for alerts (secret); unset: log and metric only'],
  ['COJ_SLA_SECONDS', `a CoJ unacknowledged this long after signing raises an alert (default ${DEFAULTS.COJ_SLA_SECONDS})`],
  ['COJ_RESEND_INITIAL_SECONDS / COJ_RESEND_MAX_SECONDS', `wait for TIS's acknowledgement before resending, doubling (default ${DEFAULTS.COJ_RESEND_INITIAL_SECONDS} up to ${DEFAULTS.COJ_RESEND_MAX_SECONDS})`],
  ['COJ_REPLY_WAIT_SECONDS', `a CoJ's first publish waits this long in the worker for TIS's reply before the workflow waits for it as a signal; 0: never (default ${DEFAULTS.COJ_REPLY_WAIT_SECONDS}, at most 8)`],
  ['COJ_RECONCILE_EVERY_MINUTES', `how often reconciliation runs (default ${DEFAULTS.COJ_RECONCILE_EVERY_MINUTES})`],
  ['MONITOR_INTERVAL_SECONDS', `how often the system monitor checks the broker (default ${DEFAULTS.MONITOR_INTERVAL_SECONDS})`],
  ['MONITOR_IDLE_AFTER_SECONDS', `a queue with messages and no consumer or no progress this long raises queue-idle or queue-no-progress (default ${DEFAULTS.MONITOR_IDLE_AFTER_SECONDS})`],
  ['MONITOR_ACK_BACKLOG', `replies waiting on the acknowledgement queue that raise ack-queue-growing (default ${DEFAULTS.MONITOR_ACK_BACKLOG})`],
  ['COJ_RECONCILE_AFTER_SECONDS', `reconciliation picks CoJs signed longer ago than this with syncedAt null (default ${DEFAULTS.COJ_RECONCILE_AFTER_SECONDS})`],
];
