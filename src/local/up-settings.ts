/**
 * The settings `tisw up` gives the processes it starts beyond the caller's environment (the local TIS's
 * queues for synced mode: COJ_REJECTIONS_QUEUE, COJ_RECEIVED_QUEUE), kept in its data directory while it
 * runs. A command in another terminal (`tisw health`, `tisw stuck`, a `tisw worker` added to the local
 * cluster) takes them for any variable its own environment does not set, so that it sees the system as
 * that system's processes do: without them `tisw health` reported "no rejections queue" for a stack that
 * has one. Production runs no `tisw up`, so there is no such file there; one left by a `tisw up` that was
 * killed names a pid that is gone, and is ignored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isAlive } from './child';

const FILE = 'up-settings.json';

interface UpSettingsFile {
  pid: number;
  settings: Record<string, string>;
}

/** Written by `tisw up` once it knows the settings; `remove` when it stops. */
export function writeUpSettings(dataDir: string, settings: Record<string, string>): { remove(): void } {
  const file = path.join(dataDir, FILE);
  const content: UpSettingsFile = { pid: process.pid, settings };
  fs.writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`);
  return { remove: () => fs.rmSync(file, { force: true }) };
}

/** `env` with the running `tisw up`'s settings under it (env's own values win); `env` itself when none runs there. */
export function withUpSettings(env: NodeJS.ProcessEnv, dataDir: string): NodeJS.ProcessEnv {
  const file = path.join(dataDir, FILE);
  let read: UpSettingsFile;
  try {
    read = JSON.parse(fs.readFileSync(file, 'utf8')) as UpSettingsFile;
  } catch {
    return env; // none, or half written: this command runs on its own environment, as without `tisw up`
  }
  if (read.pid === process.pid || !isAlive(read.pid)) return env;
  return { ...read.settings, ...env };
}
