import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_TABLE, CONFIG_VARIABLES, configHelp } from '../src/config/config';
import { withConfigTable } from '../src/config/config-doc';

const root = path.join(__dirname, '..');
const read = (file: string): string => fs.readFileSync(path.join(root, file), 'utf8');

function filesUnder(dir: string, suffix: string): string[] {
  return fs.readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(suffix)).map((f) => path.join(dir, f));
}

/** Read by the code but not configuration: documented in a default, or set by the test harness itself. */
const NOT_CONFIGURATION: Record<string, string> = {
  HOME: "part of TISW_DATA_DIR's default",
  XDG_DATA_HOME: "part of TISW_DATA_DIR's default",
  XDG_CACHE_HOME: "part of TISW_CACHE_DIR's default",
  USER: "the note on a schedule paused with tisw",
  TISW_WORKFLOW_BUNDLE: "set by the test harness: its workers share one workflow bundle",
};

describe('the configuration table', () => {
  it('is what docs/configuration.md shows (run `npm run docs:config` after changing it)', () => {
    const document = read('docs/configuration.md');
    expect(withConfigTable(document)).toBe(document);
  });

  it('is what `tisw --help` shows', () => {
    const help = execFileSync(process.execPath, [path.join(root, 'bin', 'tisw.js'), '--help'], { encoding: 'utf8' });
    expect(help).toContain(configHelp());
    for (const name of Object.keys(CONFIG_TABLE)) expect(help).toMatch(new RegExp(`^  ${name}$`, 'm'));
  });

  it('shows every default the loader uses', () => {
    expect(CONFIG_VARIABLES).toContainEqual(['COJ_RECONCILE_EVERY_MINUTES', 'how often reconciliation runs (default 2)']);
    for (const [name, variable] of Object.entries(CONFIG_TABLE)) {
      const shown = CONFIG_VARIABLES.find(([n]) => n === name)?.[1];
      if ('default' in variable) expect({ name, shown }).toEqual({ name, shown: expect.stringContaining(`default ${variable.default}`) });
    }
  });

  it('names every environment variable the code reads', () => {
    const read_ = new Set<string>();
    for (const file of filesUnder('src', '.ts')) {
      for (const m of read(file).matchAll(/\b(?:process\.)?env\.([A-Z][A-Z0-9_]+)/g)) read_.add(m[1]!);
    }
    for (const file of filesUnder('scripts', '.sh')) {
      for (const m of read(file).matchAll(/\$\{?(TISW_[A-Z0-9_]+|XDG_[A-Z_]+)/g)) read_.add(m[1]!);
    }
    const undocumented = [...read_].filter((name) => !(name in CONFIG_TABLE) && !(name in NOT_CONFIGURATION));
    expect(undocumented).toEqual([]);
    // Variables said to be read elsewhere are read there.
    for (const [name, variable] of Object.entries(CONFIG_TABLE)) {
      if ('readBy' in variable) expect({ name, readBy: read(variable.readBy).includes(name) }).toEqual({ name, readBy: true });
    }
  });

  it('is linked from the README', () => {
    expect(read('README.md').includes('(docs/configuration.md)')).toBe(true);
  });
});
