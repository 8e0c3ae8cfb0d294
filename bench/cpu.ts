/**
 * Where the CPU goes: processor time (user + system) of each process of the local system, read from
 * /proc (Linux), so a benchmark can say what one CoJ or one workflow costs each server. On a 2-core
 * machine that runs every server, a rate is bounded by the sum of these costs; comparing the sums of two
 * shapes measured in one run explains their rate ratio better than wall-clock times, which move with
 * whatever else the machine does.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** A named group of processes: fixed pids, or found by command name at each reading (PostgreSQL's backends come and go). */
export type ProcessGroup = { pids: number[] } | { command: string };

export type CpuReading = Record<string, number>;

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Processor time of one process in ms, or 0 once it has gone. */
function cpuMsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
  } catch {
    return 0;
  }
}

function pidsRunning(command: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === command) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Processor time of each group now, in ms. */
export function readCpu(groups: Record<string, ProcessGroup>): CpuReading {
  const reading: CpuReading = {};
  for (const [name, group] of Object.entries(groups)) {
    const pids = 'pids' in group ? group.pids : pidsRunning(group.command);
    reading[name] = pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  }
  return reading;
}

/** Processor ms per unit of work of each group between two readings, and their total. */
export function cpuMsPer(before: CpuReading, after: CpuReading, units: number): { byProcess: Record<string, number>; total: number } {
  const byProcess: Record<string, number> = {};
  let total = 0;
  for (const name of Object.keys(after)) {
    const ms = Math.max(0, (after[name] ?? 0) - (before[name] ?? 0)) / units;
    byProcess[name] = Math.round(ms * 100) / 100;
    total += ms;
  }
  return { byProcess, total: Math.round(total * 100) / 100 };
}

/** The machine's shared servers, which every benchmark's figures include. */
export const SHARED_SERVERS: Record<string, ProcessGroup> = {
  postgresql: { command: 'postgres' },
  rabbitmq: { command: 'beam.smp' },
};
