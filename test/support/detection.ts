/**
 * Detection time: how long from the moment a trouble begins until its alert reaches the webhook receiver.
 * The tests print it (never assert a bound: the figure depends on the machine and the thresholds) so the
 * README can quote it; the summary reporter repeats every line at the end of the run.
 */
export interface Detection {
  /** The trouble, as an operator would name it: "receiver down with CoJs waiting". */
  trouble: string;
  /** The alert kind that told of it. */
  kind: string;
  startedAt: number;
  /** When the alert reached the webhook receiver (WebhookReceiver.receivedAt). */
  arrivedAt: number;
  /** The shortened settings the figure was measured with, e.g. "threshold 1.0 s, check every 0.3 s". */
  settings: string;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Prints one line, `detection: <trouble> -> <kind> alert in <s> (<settings>)`, and returns the time in ms. */
export function reportDetection({ trouble, kind, startedAt, arrivedAt, settings }: Detection): number {
  const ms = arrivedAt - startedAt;
  console.log(`detection: ${trouble} -> ${kind} alert in ${seconds(ms)} (${settings})`);
  return ms;
}
