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
  children: Child[];
  stop(): Promise<void>;
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
  const [temporal, ferretdb] = await Promise.allSettled([
    startTemporalDevServer({
      bin: bins.temporal,
      port: options.temporalPort,
      echo: options.echo,
      ...(options.temporalUiPort !== undefined && { uiPort: options.temporalUiPort }),
      ...(options.temporalDbFile !== undefined && { dbFile: options.temporalDbFile }),
      ...(options.temporalNamespaces !== undefined && { namespaces: options.temporalNamespaces }),
    }),
    startFerretDb({
      bin: bins.ferretdb,
      listen: options.ferretdbListen,
      backend,
      echo: options.echo,
      ...(options.parentPid !== undefined && { parentPid: options.parentPid }),
    }),
  ]);
  if (temporal.status === 'rejected' || ferretdb.status === 'rejected') {
    await Promise.allSettled([temporal, ferretdb].flatMap((r) => (r.status === 'fulfilled' ? [r.value.child.stop()] : [])));
    throw temporal.status === 'rejected' ? temporal.reason : (ferretdb as PromiseRejectedResult).reason;
  }
  const children = [temporal.value.child, ferretdb.value.child];
  return {
    temporalAddress: temporal.value.address,
    ...(temporal.value.uiUrl !== undefined && { uiUrl: temporal.value.uiUrl }),
    mongoUri: ferretdb.value.uri,
    backend: backend.kind,
    children,
    async stop() {
      await Promise.allSettled(children.map((c) => c.stop()));
    },
  };
}

/** The same PostgreSQL server as `url`, another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
