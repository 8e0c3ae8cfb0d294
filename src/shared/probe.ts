/** The end-to-end probe (`tisw probe`): its input, message and result. */
/** The probe: one message published with confirms and one document written, read back by the caller. */
export interface ProbeInput {
  probeId: string;
}

export interface ProbeMessage {
  probeId: string;
  publishedAt: string;
}

export interface ProbeResult {
  probeId: string;
  queue: string;
  messageId: string;
  recordedAt: string;
}

export const probeWorkflowId = (probeId: string): string => `probe-${probeId}`;

/** Where the probe writes, in the TSS store's database (the orchestrator's side). */
export const PROBE_COLLECTION = 'deliveryProbes';
