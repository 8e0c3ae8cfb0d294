import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..');
const depcruise = path.join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/** Runs the project's dependency rules (.dependency-cruiser.js) over a tree; each violation as "rule: from -> to". */
function violations(tree: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [depcruise, '--config', path.join(root, '.dependency-cruiser.js'), '--output-type', 'json', 'src', 'bench', 'test'], { cwd: tree }, (err, stdout) => {
      // depcruise exits with the number of errors; only output that is not JSON is a failure of the test itself.
      try {
        const result = JSON.parse(stdout) as { summary: { violations: Array<{ rule: { name: string }; from: string; to: string }> } };
        resolve(result.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort());
      } catch {
        reject(err ?? new Error(`dependency-cruiser printed no JSON: ${stdout}`));
      }
    });
  });
}

/** A throwaway tree of the project's shape, with the given files (path -> source). */
function fixtureTree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tisw-depcheck-'));
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', target: 'es2022', strict: true } }));
  for (const [file, source] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), source);
  }
  return dir;
}

describe('the dependency rules', () => {
  it('hold for the tree as it is', async () => {
    expect(await violations(root)).toEqual([]);
  });

  it('fail each forbidden import, and only those', async () => {
    const tree = fixtureTree({
      'src/shared/contract.ts': "import { a } from '../adapters/store';\nexport const c = a;\n",
      'src/adapters/store.ts': "import { api } from '../client/api';\nexport const a = 1;\nexport const b = api;\n",
      'src/activities/acts.ts': 'export type Acts = { go(): Promise<void> };\nexport const impl = 1;\n',
      'src/workflows/flow.ts':
        "import type { Acts } from '../activities/acts';\nimport { impl } from '../activities/acts';\nimport { a } from '../adapters/store';\nexport type T = Acts;\nexport const x = [impl, a];\n",
      'src/client/api.ts': "import { run } from '../cli/main';\nimport { measure } from '../../bench/measure';\nimport { other } from './other';\nimport { old } from '../drills/old';\nexport const api = [run, measure, other, old];\n",
      'src/drills/old.ts': 'export const old = 1;\n',
      'src/client/other.ts': "import { api } from './api';\nexport const other = () => api;\n",
      'src/cli/main.ts': "import { measure } from '../../bench/measure';\nimport { old } from '../drills/old';\nexport const run = [measure, old];\n",
      'bench/measure.ts': "import { helper } from '../test/support/helper';\nexport const measure = helper;\n",
      'test/support/helper.ts': 'export const helper = 1;\n',
    });
    try {
      const found = await violations(tree);
      expect(found).toEqual(
        [
          'adapters-import-only-shared-and-config: src/adapters/store.ts -> src/client/api.ts',
          // a cycle is reported once, at the edge where the cruise finds it closed
          'no-cycles: src/client/api.ts -> src/client/other.ts',
          'nothing-imports-the-cli: src/client/api.ts -> src/cli/main.ts',
          'nothing-imports-the-tests: bench/measure.ts -> test/support/helper.ts',
          'only-the-cli-imports-the-benchmarks: src/client/api.ts -> bench/measure.ts',
          'only-the-cli-imports-the-drills: src/client/api.ts -> src/drills/old.ts',
          'shared-imports-nothing-of-ours: src/shared/contract.ts -> src/adapters/store.ts',
          'workflows-import-activities-as-types-only: src/workflows/flow.ts -> src/activities/acts.ts',
          'workflows-import-only-shared: src/workflows/flow.ts -> src/adapters/store.ts',
        ].sort(),
      );
    } finally {
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });
});
