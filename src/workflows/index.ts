// Every workflow the worker registers. Workflow code is bundled and sandboxed: deterministic, no I/O.
export * from './probe.workflow';
export * from './floor.workflow';
export * from './coj-submission.workflow';
export * from './coj-reconciliation.workflow';
export * from './system-monitor.workflow';
export * from './coj-sync-watcher.workflow';
export * from './esr-run.workflow';
