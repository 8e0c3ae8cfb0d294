import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { workflowSource } from '../src/worker/workflow-bundle';
import { HISTORIES_DIR } from './harness/record-histories';

/**
 * Determinism: every recorded history (test/replay-histories, see test/harness/record-histories.ts)
 * replays against the current workflow code without a nondeterminism error. A change that fails here would
 * break runs in flight: make it with patched() and keep the older histories beside the new
 * (docs/changing-workflows.md).
 */
describe('recorded workflow histories', () => {
  const files = fs.existsSync(HISTORIES_DIR) ? fs.readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.pb')) : [];

  it('are there to replay: one or more of each workflow type that waits on a receiver', () => {
    const types = new Set(files.map((f) => f.replace(/-\d+-.*$/, '')));
    for (const type of ['cojSubmissionWorkflow', 'esrRunWorkflow', 'probeWorkflow']) expect(types).toContain(type);
  });

  it('all replay against the current workflow code', async () => {
    const histories = files.map((f) => {
      const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(HISTORIES_DIR, f)));
      // The workflow id as the run had it: workflow code may read it (the ESR request derives its request id).
      const workflowId = history.events[0]?.workflowExecutionStartedEventAttributes?.workflowId;
      if (!workflowId) throw new Error(`${f}: the start event names no workflow id`);
      return { workflowId, history, file: f };
    });
    const failures: string[] = [];
    // The results come one per history, in order: several runs may share a workflow id (a CoJ run again).
    let i = 0;
    for await (const result of Worker.runReplayHistories({ ...workflowSource(), replayName: 'tisw-replay' }, histories)) {
      const file = histories[i++]?.file ?? result.workflowId;
      if (result.error) failures.push(`${file}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(histories.length).toBeGreaterThan(0);
  });
});
