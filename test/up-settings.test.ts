import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tisw } from './support/processes';
import { withUpSettings, writeUpSettings } from '../src/local/up-settings';

/** The local TIS's queues, as `tisw up` gives them to its workers. */
const UP_SETTINGS = { COJ_REJECTIONS_QUEUE: 'tisw.local.tcs-rejections', COJ_RECEIVED_QUEUE: 'tisw.local.coj-received' };

describe("a command in another terminal while `tisw up` runs takes the settings up gave its processes", () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tisw-up-settings-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  /** The CoJ acknowledgement line of `tisw health --json` in synced mode, run with this data directory and no queue settings of its own. */
  const healthSays = async (env: NodeJS.ProcessEnv = {}): Promise<string> => {
    const { stdout } = await tisw(['health', '--json'], { TISW_DATA_DIR: dataDir, COJ_ACKNOWLEDGEMENT: 'synced', COJ_REJECTIONS_QUEUE: undefined, COJ_RECEIVED_QUEUE: undefined, ...env });
    return (JSON.parse(stdout) as { checks: Array<{ name: string; detail: string }> }).checks.find((c) => c.name === 'acknowledgement.coj')?.detail ?? '';
  };

  it('`tisw health` shows the queues the workers of the running `tisw up` consume, and none once it has stopped', async () => {
    expect(await healthSays()).toMatch(/no rejections queue/);
    const settings = writeUpSettings(dataDir, UP_SETTINGS); // this process stands for the running `tisw up`
    try {
      const detail = await healthSays();
      expect(detail).toContain("TCS's rejections taken from tisw.local.tcs-rejections");
      expect(detail).toContain('COJ_RECEIVED also taken from tisw.local.coj-received');
      // A variable the command's own environment sets wins.
      expect(await healthSays({ COJ_REJECTIONS_QUEUE: 'tcs.rejections.elsewhere' })).toContain("TCS's rejections taken from tcs.rejections.elsewhere");
    } finally {
      settings.remove();
    }
    expect(await healthSays()).toMatch(/no rejections queue/);
  }, 60_000);

  it('ignores the file of a `tisw up` that was killed, a half-written one, and its own', async () => {
    const gone = spawn(process.execPath, ['-e', '']);
    const pid = await new Promise<number>((resolve) => gone.on('exit', () => resolve(gone.pid as number)));
    fs.writeFileSync(path.join(dataDir, 'up-settings.json'), JSON.stringify({ pid, settings: UP_SETTINGS }));
    expect(withUpSettings({}, dataDir)).toEqual({});

    fs.writeFileSync(path.join(dataDir, 'up-settings.json'), '{"pid": 1');
    expect(withUpSettings({}, dataDir)).toEqual({});

    writeUpSettings(dataDir, UP_SETTINGS);
    expect(withUpSettings({}, dataDir)).toEqual({}); // `tisw up` itself: its processes get the settings from it
    expect(withUpSettings({ LOG_LEVEL: 'debug' }, path.join(dataDir, 'none'))).toEqual({ LOG_LEVEL: 'debug' });
  });
});
