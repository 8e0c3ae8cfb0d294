/**
 * The local servers as one unit: the Temporal dev server and FerretDB, started together and stopped
 * together. `tisw up`, the test harness and the benchmarks all start them through here.
 */
import { ensureServersBuilt } from './servers';
import { startFerretDb, type FerretDbBackend } from './ferretdb';
import { startTemporalDevServer } from './temporal-dev-server';
import { isListening } from './ports';
import type { Child } from './child';

export interface LocalStackOptions {
  temporalPort: number;
  /** undefined: no UI (tests, benchmarks). */
  temporalUiPort?: number;
  /** The UI decodes payloads through this codec server (codec-server.ts). */
  temporalUiCodecEndpoint?: string;
  /** undefined: Temporal keeps its state in memory. */
  temporalDbFile?: string;
  /** Namespaces to create besides "default". */
  temporalNamespaces?: string[];
  /** host:port for FerretDB; port 0 picks a free one. */
  ferretdbListen: string;
  /** PostgreSQL database for FerretDB, used when PostgreSQL answers. */
  postgresUrl: string;
  /** Where FerretDB's SQLite files go when PostgreSQL does not answer. */
  sqliteDir: string;
  parentPid?: number;
  echo: boolean;
  /** Told about choices the user should know of (the slow SQLite fallback). */
  warn: (message: string) => void;
}

export interface LocalStack {
  temporalAddress: string;
  uiUrl?: string;
  /** mongodb://host:port/ (append the database). */
  mongoUri: string;
  backend: FerretDbBackend['kind'];
  /** The servers' processes as they are now (a restart replaces one). */
  readonly children: Child[];
  /** Each server alone, for the fault tests: killed as a crash would, and started again. */
  temporal: LocalServer;
  ferretdb: LocalServer;
  stop(): Promise<void>;
}

export interface LocalServer {
  /** SIGKILL: no shutdown of any kind. */
  kill(): Promise<void>;
  /**
   * Starts it again with the same options, on the same port and the same state: Temporal's SQLite file
   * (without `temporalDbFile` its state is in memory and gone), FerretDB's PostgreSQL database.
   */
  restart(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const bins = await ensureServersBuilt();
  const pg = new URL(options.postgresUrl);
  let backend: FerretDbBackend;
  if (await isListening(pg.hostname, Number(pg.port || 5432))) {
    backend = { kind: 'postgresql', url: options.postgresUrl };
  } else {
    options.warn(`PostgreSQL does not answer at ${pg.hostname}:${pg.port || 5432}: FerretDB falls back to SQLite in ${options.sqliteDir}, which is 10-25 times slower on large collections`);
    backend = { kind: 'sqlite', dir: options.sqliteDir };
  }
  const temporalOptions = {
    bin: bins.temporal,
    port: options.temporalPort,
    echo: options.echo,
    ...(options.temporalUiPort !== undefined && { uiPort: options.temporalUiPort }),
    ...(options.temporalDbFile !== undefined && { dbFile: options.temporalDbFile }),
    ...(options.temporalUiCodecEndpoint !== undefined && { uiCodecEndpoint: options.temporalUiCodecEndpoint }),
    ...(options.temporalNamespaces !== undefined && { namespaces: options.temporalNamespaces }),
  };
  const ferretdbOptions = {
    bin: bins.ferretdb,
    listen: options.ferretdbListen,
    backend,
    echo: options.echo,
    ...(options.parentPid !== undefined && { parentPid: options.parentPid }),
  };
  const [temporal, ferretdb] = await Promise.allSettled([startTemporalDevServer(temporalOptions), startFerretDb(ferretdbOptions)]);
  if (temporal.status === 'rejected' || ferretdb.status === 'rejected') {
    await Promise.allSettled([temporal, ferretdb].flatMap((r) => (r.status === 'fulfilled' ? [r.value.child.stop()] : [])));
    throw temporal.status === 'rejected' ? temporal.reason : (ferretdb as PromiseRejectedResult).reason;
  }
  const running = { temporal: temporal.value.child, ferretdb: ferretdb.value.child };
  // A restarted FerretDB listens where the first one did (port 0 was resolved at the first start).
  ferretdbOptions.listen = new URL(ferretdb.value.uri).host;
  const server = (name: keyof typeof running, start: () => Promise<Child>): LocalServer => ({
    kill: () => running[name].kill(),
    async restart() {
      await running[name].kill();
      running[name] = await start();
    },
  });
  return {
    temporalAddress: temporal.value.address,
    ...(temporal.value.uiUrl !== undefined && { uiUrl: temporal.value.uiUrl }),
    mongoUri: ferretdb.value.uri,
    backend: backend.kind,
    get children() {
      return [running.temporal, running.ferretdb];
    },
    temporal: server('temporal', async () => (await startTemporalDevServer(temporalOptions)).child),
    ferretdb: server('ferretdb', async () => (await startFerretDb(ferretdbOptions)).child),
    async stop() {
      await Promise.allSettled(Object.values(running).map((c) => c.stop()));
    },
  };
}

/** The same PostgreSQL server as `url`, another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
