import { heartbeat, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Alerter } from '../adapters/alerts';
import type { TssStore } from '../adapters/tss-store';
import { ensureSubmitted, type CojSettings } from '../client/coj';

export interface ReconciliationDeps {
  client: Client;
  tssStore: TssStore;
  alerter: Alerter;
  coj: CojSettings;
}

export interface ReconciliationResult {
  unsynced: number;
  /** Signed CoJs that had no workflow: the discrepancy reconciliation exists to catch. */
  started: string[];
  /** CoJs in TSS's store that cannot be submitted as they are, with why. */
  invalid: Array<{ programmeMembershipTisId: string; error: string }>;
}

export function createReconciliationActivities({ client, tssStore, alerter, coj }: ReconciliationDeps) {
  return {
    /**
     * Finds CoJs signed more than `olderThanMs` ago that TIS has not confirmed (syncedAt null) and makes
     * sure each has a submission workflow. One that had none is the gap between TSS saving a signature
     * and starting its workflow: it is started now, and the alert names it.
     */
    async reconcileCojs({ olderThanMs }: { olderThanMs: number }): Promise<ReconciliationResult> {
      const unsynced = await tssStore.findUnsynced({ before: new Date(Date.now() - olderThanMs) });
      const results = await ensureSubmitted(client, coj, unsynced, () => heartbeat());
      const started = results.filter((r) => r.outcome === 'started').map((r) => r.signature.programmeMembershipTisId);
      const invalid = results.filter((r) => r.outcome === 'invalid').map((r) => ({ programmeMembershipTisId: r.signature.programmeMembershipTisId, error: r.error ?? '' }));
      if (started.length > 0 || invalid.length > 0) {
        await alerter.raise({
          kind: 'coj-unsubmitted',
          summary: `reconciliation found ${started.length} signed CoJ(s) with no submission workflow (now started)${invalid.length ? ` and ${invalid.length} invalid one(s) in the TSS store` : ''}: ${[...started, ...invalid.map((i) => `${i.programmeMembershipTisId} (${i.error})`)].slice(0, 20).join(', ')}`,
          details: { started, invalid },
        });
      }
      log.info('reconciliation done', { unsynced: unsynced.length, started: started.length, invalid: invalid.length });
      return { unsynced: unsynced.length, started, invalid };
    },
  };
}

export type ReconciliationActivities = ReturnType<typeof createReconciliationActivities>;
