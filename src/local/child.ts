/**
 * A local server we started: its output prefixed into ours (or kept quiet, with the tail remembered for
 * error messages), its early death noticed, and a stop that always ends it (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { PROJECT_ROOT } from './project';

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  /** Set once the process has exited: why, for error messages. */
  exited(): Error | undefined;
  /** The last lines it printed. */
  tail(): string;
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, as a crash would end it (no shutdown of any kind); resolves once it has exited. */
  kill(): Promise<void>;
}

export interface SpawnOptions {
  /** How it is named in prefixes and messages; default: the command. */
  name?: string;
  /** Print its output, each line prefixed with [name]. Otherwise only kept for error messages. */
  echo: boolean;
  env?: NodeJS.ProcessEnv;
  onLine?: (line: string) => void;
}

export function spawnChild(name: string, command: string, args: string[], options: SpawnOptions): Child {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  const lines: string[] = [];
  let exitError: Error | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitError = new Error(`${name} exited (${signal ?? `code ${code}`}); its last output:\n${lines.join('\n')}`);
      resolve();
    });
    child.once('error', (err) => {
      exitError = new Error(`${name} could not start: ${err.message}`);
      resolve();
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (lines.length > 40) lines.shift();
      if (options.echo) process.stderr.write(`[${name}] ${line}\n`);
      options.onLine?.(line);
    });
  }
  return {
    name,
    pid: child.pid ?? -1,
    process: child,
    exited: () => exitError,
    tail: () => lines.join('\n'),
    async stop(graceMs = 10_000) {
      if (exitError) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
    async kill() {
      if (exitError) return;
      child.kill('SIGKILL');
      await exit;
    },
  };
}

/** `tisw <command>` as a child process of ours, from the compiled build (bin/tisw.js). */
/**
 * With TISW_WORKER_CPU_PROFILE_DIR set, each `tisw worker` started from here (by `tisw up`, the benchmarks)
 * writes a V8 CPU profile into that directory when it exits: how the benchmarks' workers were profiled.
 */
function cpuProfiling(command: string): string[] {
  const dir = process.env.TISW_WORKER_CPU_PROFILE_DIR;
  return dir && command === 'worker' ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

/** `command`: a tisw command with its options, e.g. `receivers --no-tis-sync`; the child is named after the command. */
export function spawnTisw(command: string, options: SpawnOptions): Child {
  const [name = command, ...args] = command.split(' ');
  return spawnChild(options.name ?? name, process.execPath, [...cpuProfiling(name), path.join(PROJECT_ROOT, 'bin', 'tisw.js'), name, ...args], options);
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
