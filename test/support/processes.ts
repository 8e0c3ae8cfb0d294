/** Our own processes, started as an operator would (`tisw worker`, `tisw receivers`), for fault tests. */
import path from 'node:path';
import { spawnChild, type Child } from '../../src/local/child';
import { PROJECT_ROOT } from '../../src/local/project';

/** Runs `tisw <command>` from the compiled build (npm test builds first) with this test's environment. */
export function startTisw(command: string, env: NodeJS.ProcessEnv = {}): Child {
  return spawnChild(`tisw ${command}`, process.execPath, [path.join(PROJECT_ROOT, 'bin', 'tisw.js'), command], {
    echo: process.env.LOG_LEVEL === 'debug',
    env: { ...process.env, TISW_METRICS_PORT: '0', ...env },
  });
}
