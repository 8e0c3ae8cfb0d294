import { execFile } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '..');

/** Runs the project's ESLint on `source` as if it were a file in src/workflows/, where the determinism rules apply. */
function lintWorkflowSource(source: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [path.join(root, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', '--stdin', '--stdin-filename', 'src/workflows/probe.workflow.ts'],
      { cwd: root },
      (err, stdout) => {
        // eslint exits 1 when it reports problems; anything else is a failure of the test itself.
        if (err && err.code !== 1) return reject(err);
        const [result] = JSON.parse(stdout) as Array<{ messages: Array<{ line: number; ruleId: string | null; message: string }> }>;
        resolve((result?.messages ?? []).map((m) => `${m.line}: ${m.ruleId ?? ''}: ${m.message}`));
      },
    );
    child.stdin?.end(source);
  });
}

describe('the lint rules for workflow code', () => {
  it('fails a workflow file on each import of a Node built-in, an I/O package or activity code', async () => {
    const imports = [
      "import fs from 'node:fs';",
      "import { randomUUID } from 'crypto';",
      "import { MongoClient } from 'mongodb';",
      "import { createActivities } from '../activities';",
    ];
    const source = `${imports.join('\n')}\nexport const used = [fs, randomUUID, MongoClient, createActivities];\n`;
    const messages = await lintWorkflowSource(source);
    for (const [i, line] of imports.entries()) {
      const module = /from '([^']+)'/.exec(line)?.[1] ?? '';
      expect(messages).toContainEqual(expect.stringMatching(new RegExp(`^${i + 1}: no-restricted-imports: '${module.replace(/[.*/]/g, '\\$&')}' import is restricted`)));
    }
  });

  it('passes a workflow file that imports only the workflow API and activity types', async () => {
    const messages = await lintWorkflowSource(
      "import { proxyActivities } from '@temporalio/workflow';\nimport type { ProbeActivities } from '../activities/probe.activities';\n" +
        "const { publishProbe } = proxyActivities<ProbeActivities>({ startToCloseTimeout: '1 minute' });\n" +
        "export async function w(): Promise<void> {\n  await publishProbe({ probeId: 'x' });\n}\n",
    );
    expect(messages).toEqual([]);
  });

  it('fails a forgotten await (no-floating-promises)', async () => {
    const messages = await lintWorkflowSource(
      "import { sleep } from '@temporalio/workflow';\nexport async function w(): Promise<void> {\n  sleep(1000);\n}\n",
    );
    expect(messages).toContainEqual(expect.stringMatching(/^3: @typescript-eslint\/no-floating-promises:/));
  });
});
