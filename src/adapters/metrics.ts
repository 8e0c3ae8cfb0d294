/**
 * The project's own Prometheus metrics, in one registry, counted where the work happens (activities, the
 * acknowledgement listener, the alerter; never in workflow code, which replays). Each worker serves them
 * together with the Temporal SDK's on one endpoint (src/worker/metrics-server.ts). prom-client: the
 * standard Node client, with histograms and the text format.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();

// The process's own figures (process_resident_memory_bytes, nodejs_heap_size_used_bytes, event-loop lag,
// ...): a worker's memory and stalls are what an operator looks at first when runs slow down.
collectDefaultMetrics({ register: registry });
// prom-client also exports each active-handle/request/resource count as a gauge named *_total, which
// Prometheus reserves for counters (`promtool check metrics` rejects the page for it). The same counts are
// there by type without the suffix (nodejs_active_handles{type}, …): sum() over them gives these.
for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);

export const alertsTotal = new Counter({
  name: 'tisw_alerts_total',
  help: 'Alerts raised, by kind',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const cojPublishesTotal = new Counter({
  name: 'tisw_coj_publishes_total',
  help: 'CoJ events published to TIS, by result (ok: confirmed by the broker) and whether it was a resend',
  labelNames: ['result', 'resend'] as const,
  registers: [registry],
});

export const cojAcknowledgedTotal = new Counter({
  name: 'tisw_coj_acknowledged_total',
  help: 'CoJs acknowledged by TIS, by outcome: in reply mode that of our syncedAt write to the TSS store; in synced mode synced-by-tis (seen synced back by TIS)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const cojSubmissionToAcknowledgementSeconds = new Histogram({
  name: 'tisw_coj_submission_to_acknowledgement_seconds',
  help: 'From the start of a CoJ submission to its acknowledgement (syncedAt written in reply mode, seen synced back by TIS in synced mode)',
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400],
  registers: [registry],
});

export const cojSyncsTotal = new Counter({
  name: 'tisw_coj_syncs_total',
  help: "Synced mode: CoJs seen synced back by TIS and handed to their runs, by path (in-worker: to the first publish waiting in the worker; signal: by the sync watcher or the COJ_RECEIVED listener) and source (tss-store, coj-received)",
  labelNames: ['path', 'source'] as const,
  registers: [registry],
});

/** Counts a CoJ seen synced back by TIS and handed to its run; `startedAt`: when its submission began, if known. */
export function countSync({ path, source, startedAt }: { path: 'in-worker' | 'signal'; source: string; startedAt?: Date | undefined }): void {
  cojSyncsTotal.inc({ path, source });
  cojAcknowledgedTotal.inc({ outcome: 'synced-by-tis' });
  if (startedAt) cojSubmissionToAcknowledgementSeconds.observe((Date.now() - startedAt.getTime()) / 1000);
}

export const cojSyncWatchRoundSeconds = new Histogram({
  name: 'tisw_coj_sync_watch_round_seconds',
  help: "Synced mode: how long one round of the sync watcher took (listing the waiting CoJs, reading TSS's profiles, signalling the synced)",
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const cojSyncWatchCpuSecondsTotal = new Counter({
  name: 'tisw_coj_sync_watch_cpu_seconds_total',
  help: "Synced mode: this worker process's processor time while sync-watcher rounds ran in it (an upper bound of the rounds' own: the process's other work in those moments counts too)",
  registers: [registry],
});

export const esrCommandsPublishedTotal = new Counter({
  name: 'tisw_esr_commands_published_total',
  help: 'ESR app-file generation commands published to the exporter, by deanery and result',
  labelNames: ['deanery', 'result'] as const,
  registers: [registry],
});

export const esrAppFilesTotal = new Counter({
  name: 'tisw_esr_app_files_total',
  help: 'App files the exporter reported made (acknowledgements handed to a run), by deanery',
  labelNames: ['deanery'] as const,
  registers: [registry],
});

export const esrDeaneryFailuresTotal = new Counter({
  name: 'tisw_esr_deanery_failures_total',
  help: 'Rounds in which an ESR deanery failed (no acknowledgement, a rejection, or records still due) and was alerted, by deanery',
  labelNames: ['deanery'] as const,
  registers: [registry],
});

export const esrRecordsExportedTotal = new Counter({
  name: 'tisw_esr_records_exported_total',
  help: 'GeneratedAppRecords written to app files, as the exporter reported them, by deanery',
  labelNames: ['deanery'] as const,
  registers: [registry],
});

export const cojsPastSla = new Gauge({
  name: 'tisw_cojs_past_sla',
  help: 'CoJ submissions still running longer than the SLA after they started (set by the system monitor; max() across workers)',
  registers: [registry],
});

export const monitorCondition = new Gauge({
  name: 'tisw_monitor_condition',
  help: 'The system monitor\'s conditions: 1 while an alerted episode lasts, else 0 (max() across workers)',
  labelNames: ['condition'] as const,
  registers: [registry],
});

export const repliesTotal = new Counter({
  name: 'tisw_replies_total',
  help: 'Receiver replies taken by the acknowledgement listener, by job, status and what became of them',
  labelNames: ['job', 'status', 'result'] as const,
  registers: [registry],
});
