/**
 * Finds the pinned local servers, building them first where they are missing. The build itself, its
 * pins and its cache live in scripts/build-servers.sh: this only runs it and reads the paths it prints.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from './project';

export interface ServerBinaries {
  temporal: string;
  ferretdb: string;
}

let built: Promise<ServerBinaries> | undefined;

export function ensureServersBuilt(): Promise<ServerBinaries> {
  built ??= new Promise((resolve, reject) => {
    const child = execFile('bash', [path.join(PROJECT_ROOT, 'scripts', 'build-servers.sh')], { maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) {
        built = undefined;
        reject(new Error(`building the local servers failed (scripts/build-servers.sh): ${err.message}`));
        return;
      }
      const value = (key: string): string => {
        const line = stdout.split('\n').find((l) => l.startsWith(`${key}=`));
        if (!line) throw new Error(`scripts/build-servers.sh printed no ${key}`);
        return line.slice(key.length + 1);
      };
      resolve({ temporal: value('TEMPORAL_BIN'), ferretdb: value('FERRETDB_BIN') });
    });
    // Its progress ("still building (90 s)") goes straight to the user.
    child.stderr?.pipe(process.stderr);
  });
  return built;
}
