/** The system monitor (src/workflows/system-monitor.workflow.ts): its settings, what it sees and its state. */
export const MONITOR_WORKFLOW_ID = 'tisw-system-monitor';

export interface MonitorSettings {
  intervalMs: number;
  idleAfterMs: number;
  ackBacklog: number;
  /** The queues watched for idleness. */
  queues: string[];
  /** For the tisw_cojs_past_sla gauge. */
  cojSlaMs: number;
  /** Synced mode only: CoJs taken by TCS and none synced back for this long raise coj-sync-stalled. */
  cojSyncStalledAfterMs?: number;
}

/** Synced mode: what visibility says about the CoJs waiting for TIS's sync, over the stall threshold. */
export interface CojSyncObservation {
  /** Runs waiting for their acknowledgement that started longer ago than the threshold. */
  waitingLong: number;
  /** Runs acknowledged (completed) within the threshold. */
  acknowledgedRecently: number;
}

/** One look at the broker, as the monitor's activity returns it. */
export interface Observation {
  reachable: boolean;
  error?: string;
  blocked?: string;
  queues: Array<{ queue: string; ready: number; consumers: number; missing?: true }>;
}

/** A condition the monitor is in an episode of, keyed e.g. "queue-idle:trainee.queue.coj.signed.tcs". */
export interface MonitorEpisode {
  key: string;
  since: string;
  alerted: boolean;
}

export interface MonitorState {
  settings: MonitorSettings;
  /** Conditions seen, with when they began; alerted once they held long enough. */
  episodes: MonitorEpisode[];
  /** Last seen ready count per queue, for "no progress". */
  lastReady: Record<string, number>;
  /** Synced mode: since when TCS's queue has had consumers at every check (absent: it has none now). */
  tcsConsumingSince?: string;
}
