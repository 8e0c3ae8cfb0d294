/** Our own processes, started as an operator would (`tisw worker`, `tisw receivers`, one `tisw` command). */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { spawnTisw, type Child } from '../../src/local/child';
import { PROJECT_ROOT } from '../../src/local/project';

/** Runs `tisw <command>` from the compiled build (npm test builds first) with this test's environment; `onLine` sees each line it prints. */
export function startTisw(command: string, env: NodeJS.ProcessEnv = {}, onLine?: (line: string) => void): Child {
  return spawnTisw(command, { echo: process.env.LOG_LEVEL === 'debug', env: { ...process.env, TISW_METRICS_PORT: '0', ...env }, ...(onLine && { onLine }) });
}

/** Runs the built `tisw` once to its end, the way an operator or a script does: its exit code and output. */
export function tisw(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'tisw.js'), ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
