/**
 * The sync watcher's round (synced mode; src/workflows/coj-sync-watcher.workflow.ts): which CoJ runs wait,
 * which of them TSS's profiles show synced back by TIS, and a signal to each of those. Cheap at scale by
 * construction: the waiting runs come from one visibility listing (search attributes name the trainee and
 * the programme membership, the memo the signature), the profiles from one query per batch of trainees by
 * TSS's key, never a read per CoJ.
 */
import { heartbeat, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { signalAcknowledgement } from '../adapters/temporal';
import type { TssStore } from '../adapters/tss-store';
import { countSync, cojSyncWatchCpuSecondsTotal, cojSyncWatchRoundSeconds } from '../adapters/metrics';
import { syncedAcknowledgement, type CojSyncRound, type CojSyncSource } from '../shared/coj';
import { SEARCH_ATTRIBUTES } from '../shared/temporal';

export interface CojSyncDeps {
  client: Client;
  tssStore: TssStore;
  /** The cluster's task queue (TEMPORAL_TASK_QUEUE), whose CoJ runs wait; the watcher itself runs on the watchers'. */
  taskQueue: string;
}

/** Runs per page of the visibility listing. */
const PAGE = 1000;
/** Signals sent at once. */
const SIGNALS_IN_FLIGHT = 20;

/** The runs on this cluster's task queue whose stage says they wait for TIS: the ones a round looks at. */
export const waitingCojsQuery = (taskQueue: string): string =>
  `WorkflowType = 'cojSubmissionWorkflow' AND ExecutionStatus = 'Running' AND TisStage = 'awaiting-acknowledgement' AND TaskQueue = '${taskQueue}'`;

interface WaitingCoj {
  workflowId: string;
  traineeTisId: string;
  programmeMembershipTisId: string;
  /** The signature the run delivers, from its memo. */
  signedAt: string;
  startTime: Date;
}

export function createCojSyncActivities({ client, tssStore, taskQueue }: CojSyncDeps) {
  return {
    async watchCojSync(): Promise<CojSyncRound> {
      const began = Date.now();
      const cpuBefore = process.cpuUsage();
      const waiting = await listWaitingCojs(client, taskQueue);
      const listed = Date.now();
      const { synced, profilesRead, queries: batches } = await tssStore.syncedAmong(waiting, heartbeat);

      const read = Date.now();
      let handedOver = 0;
      for (let i = 0; i < synced.length; i += SIGNALS_IN_FLIGHT) {
        const results = await Promise.all(synced.slice(i, i + SIGNALS_IN_FLIGHT).map(({ awaited: run, syncedAt }) => handOverSync(client, run, syncedAt, 'tss-store')));
        handedOver += results.filter(Boolean).length;
      }
      const end = Date.now();
      const cpu = process.cpuUsage(cpuBefore);
      cojSyncWatchCpuSecondsTotal.inc((cpu.user + cpu.system) / 1e6);
      cojSyncWatchRoundSeconds.observe((end - began) / 1000);
      const round: CojSyncRound = { waiting: waiting.length, handedOver, profilesRead, batches, ms: end - began, listMs: listed - began, readMs: read - listed, signalMs: end - read };
      if (handedOver > 0) log.info('CoJs synced back by TIS handed to their runs', { ...round });
      return round;
    },
  };
}

async function listWaitingCojs(client: Client, taskQueue: string): Promise<WaitingCoj[]> {
  const found: WaitingCoj[] = [];
  for await (const run of client.workflow.list({ query: waitingCojsQuery(taskQueue), pageSize: PAGE })) {
    const traineeTisId = run.typedSearchAttributes.get(SEARCH_ATTRIBUTES.trainee);
    const programmeMembershipTisId = run.typedSearchAttributes.get(SEARCH_ATTRIBUTES.programmeMembership);
    const signedAt = run.memo?.signedAt;
    // Every run the client starts has all three; a hand-started one without them is left to its resends.
    if (traineeTisId === undefined || programmeMembershipTisId === undefined || typeof signedAt !== 'string') continue;
    found.push({ workflowId: run.workflowId, traineeTisId, programmeMembershipTisId, signedAt, startTime: run.startTime });
  }
  return found;
}

/**
 * Signals one run that its signature is synced; false if the run has closed meanwhile (another source
 * came first, or it ended). The run takes the first acknowledgement of its signature and ignores the rest,
 * so two sources, or two rounds, never act twice.
 */
export async function handOverSync(client: Client, run: { workflowId: string; programmeMembershipTisId: string; signedAt: string; startTime?: Date }, syncedAt: string, source: CojSyncSource): Promise<boolean> {
  if (!(await signalAcknowledgement(client, run.workflowId, syncedAcknowledgement(run, syncedAt, source)))) return false;
  countSync({ path: 'signal', source, startedAt: run.startTime });
  return true;
}

export type CojSyncActivities = ReturnType<typeof createCojSyncActivities>;
