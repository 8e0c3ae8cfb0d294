/**
 * FerretDB, the MongoDB wire-protocol server that stands in for MongoDB locally and in tests, run by our
 * servers/ferretdb program. On the PostgreSQL backend where PostgreSQL is reachable: it is 10-25 times
 * faster here than the SQLite one (design.md).
 */
import fs from 'node:fs';
import { spawnChild, type Child } from './child';
import { waitFor } from '../shared/poll';

export type FerretDbBackend = { kind: 'postgresql'; url: string } | { kind: 'sqlite'; dir: string };

export interface FerretDbOptions {
  bin: string;
  /** host:port to listen on; port 0 picks a free one. */
  listen: string;
  backend: FerretDbBackend;
  /** Stop by itself when this process is gone (tests: so a crashed run leaves no server). */
  parentPid?: number;
  echo: boolean;
}

export interface FerretDb {
  /** mongodb://host:port/ without a database. */
  uri: string;
  child: Child;
}

export async function startFerretDb(options: FerretDbOptions): Promise<FerretDb> {
  // error, not warn: at warn FerretDB logs every failed command's whole wire message, which drowns the output of `tisw up`.
  const args = ['-listen', options.listen, '-handler', options.backend.kind, '-log-level', 'error'];
  if (options.backend.kind === 'postgresql') args.push('-postgresql-url', options.backend.url);
  else {
    fs.mkdirSync(options.backend.dir, { recursive: true });
    args.push('-sqlite-url', `file:${options.backend.dir.replace(/\/?$/, '/')}`);
  }
  if (options.parentPid) args.push('-parent-pid', String(options.parentPid));
  let uri: string | undefined;
  const child = spawnChild('ferretdb', options.bin, args, {
    echo: options.echo,
    onLine: (line) => {
      if (line.startsWith('ready ')) uri = line.slice('ready '.length).trim();
    },
  });
  try {
    await waitFor(`FerretDB on ${options.listen}`, () => Promise.resolve(uri !== undefined), 30_000, child.exited);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { uri: uri as string, child };
}
