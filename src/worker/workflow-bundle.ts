/**
 * The workflow code, bundled once at build time (`npm run build`) into dist/workflow-bundle.js, so that
 * each worker of a cluster starts in a second instead of spending seconds and memory on webpack. The
 * bundle is made from the same compiled sources the worker runs, so the two cannot drift apart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/** dist/workflow-bundle.js when running from dist/; from src/ (tests) there is none. */
export const PREBUILT_BUNDLE = path.join(__dirname, '..', '..', 'workflow-bundle.js');

export const WORKFLOWS_PATH = require.resolve('../workflows');

/**
 * Where a Worker gets its workflow code: an explicit bundle, else TISW_WORKFLOW_BUNDLE (the tests build
 * one for all files), else the prebuilt one, else the sources, bundled at start.
 */
export function workflowSource(bundlePath?: string): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  const codePath = bundlePath ?? process.env.TISW_WORKFLOW_BUNDLE ?? (fs.existsSync(PREBUILT_BUNDLE) ? PREBUILT_BUNDLE : undefined);
  return codePath ? { workflowBundle: { codePath } } : { workflowsPath: WORKFLOWS_PATH };
}

export async function writeWorkflowBundle(file: string): Promise<void> {
  const quiet = (): undefined => undefined;
  const warn = (message: string): void => void process.stderr.write(`workflow bundle: ${message}\n`);
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { trace: quiet, debug: quiet, info: quiet, log: quiet, warn, error: warn },
  });
  fs.writeFileSync(file, code);
}

if (require.main === module) {
  writeWorkflowBundle(PREBUILT_BUNDLE).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
