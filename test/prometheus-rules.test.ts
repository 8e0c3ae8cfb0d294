/**
 * Our Prometheus side, on a real Prometheus: the alert rules (deploy/prometheus/tisw-rules.yml) against
 * their `promtool test rules` cases, one firing and one quiet case at least for every rule; the scrape
 * configuration (deploy/prometheus/prometheus.yml) valid, covering each host's whole metrics port range,
 * and finding both workers of a host when a real Prometheus runs on it. promtool and Prometheus come from
 * Debian's prometheus package (test/support/prometheus-tools.ts installs it where missing); where it cannot be
 * had, these tests skip with the reason.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/local/project';
import { freePort } from '../src/local/ports';
import { spawnChild, type Child } from '../src/local/child';
import { eventually } from '../src/shared/poll';
import { loadConfig } from '../src/config/config';
import { METRICS_PORT_RANGE } from '../src/worker/metrics-server';
import { prometheusTool, runPromtool } from './support/prometheus-tools';
import { startTisw } from './support/processes';

const DEPLOY = path.join(PROJECT_ROOT, 'deploy', 'prometheus');
const rulesFile = fs.readFileSync(path.join(DEPLOY, 'tisw-rules.yml'), 'utf8');
const casesFile = fs.readFileSync(path.join(DEPLOY, 'tisw-rules.test.yml'), 'utf8');
const scrapeFile = fs.readFileSync(path.join(DEPLOY, 'prometheus.yml'), 'utf8');

const tool = prometheusTool('promtool');
const server = prometheusTool('prometheus');
const whyNot = tool.whyNot ?? server.whyNot;
const withPrometheus = whyNot === undefined ? describe : describe.skip;

withPrometheus(`the Prometheus rules and scrape configuration${whyNot === undefined ? '' : ` (skipped: ${whyNot})`}`, () => {
  it('pass their promtool test rules cases', async () => {
    const { code, output } = await runPromtool(tool.path!, ['test', 'rules', 'tisw-rules.test.yml'], '', DEPLOY);
    expect(output).toMatch(/SUCCESS/);
    expect(output).not.toMatch(/FAILED/);
    expect(code).toBe(0);
  });

  it('have, for every rule, a case where it fires and one where it stays quiet', () => {
    const rules = [...rulesFile.matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1]);
    expect(rules.length).toBeGreaterThanOrEqual(3);
    // Each evaluation of a case names its alert and expects either no alert or some (exp_labels).
    const evaluations = casesFile.split(/^\s*- eval_time:/m).slice(1).map((block) => ({
      alert: /alertname: (\S+)/.exec(block)?.[1],
      fires: /exp_labels:/.test(block),
      quiet: /exp_alerts: \[\]/.test(block),
    }));
    for (const rule of rules) {
      expect({ rule, fires: evaluations.some((e) => e.alert === rule && e.fires) }).toEqual({ rule, fires: true });
      expect({ rule, quiet: evaluations.some((e) => e.alert === rule && e.quiet) }).toEqual({ rule, quiet: true });
    }
    // No case for a rule that is not there (a renamed rule leaves its cases testing nothing).
    expect(evaluations.map((e) => e.alert).filter((a) => !rules.includes(a))).toEqual([]);
  });

  it('is a valid configuration listing each host\'s whole metrics port range', async () => {
    const { code, output } = await runPromtool(tool.path!, ['check', 'config', 'prometheus.yml'], '', DEPLOY);
    expect(output).toMatch(/SUCCESS: 3 rules found/);
    expect(code).toBe(0);
    // The ports a host's workers take: TISW_METRICS_PORT's default and the METRICS_PORT_RANGE - 1 after it.
    const first = loadConfig({}).metricsPort;
    const range = Array.from({ length: METRICS_PORT_RANGE }, (_, i) => first + i);
    const hosts = new Map<string, number[]>();
    // The scrape targets only (the alerting block names the Alertmanager's host:port too).
    for (const [, host, port] of scrapeFile.slice(scrapeFile.indexOf('scrape_configs:')).matchAll(/^\s*- ([\w.-]+):(\d+)\s*$/gm)) hosts.set(host!, [...(hosts.get(host!) ?? []), Number(port)]);
    expect(hosts.size).toBeGreaterThan(0);
    for (const [host, ports] of hosts) expect({ host, ports }).toEqual({ host, ports: range });
  });

  it('finds both workers of a host when a real Prometheus scrapes with it, and loads the rules', async () => {
    const base = await freePort();
    const workers = [0, 1].map(() => startTisw('worker', { TISW_METRICS_PORT: String(base) }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tisw-prometheus-'));
    let prometheus: Child | undefined;
    try {
      // The shipped file with its first host made this one (its ports moved to start at `base`), the
      // second host's block dropped, and a 1 s interval instead of 15 s; the rules file as it is.
      const firstHostOnly = scrapeFile.slice(0, scrapeFile.lastIndexOf('      - labels:'));
      const local = firstHostOnly
        .replace(/worker-host-1:(\d+)/g, (_, port: string) => `127.0.0.1:${Number(port) - loadConfig({}).metricsPort + base}`)
        .replace(/(scrape|evaluation)_interval: 15s/g, '$1_interval: 1s');
      expect(local).toContain(`127.0.0.1:${base + METRICS_PORT_RANGE - 1}`);
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), local);
      fs.copyFileSync(path.join(DEPLOY, 'tisw-rules.yml'), path.join(dir, 'tisw-rules.yml'));
      const webPort = await freePort();
      prometheus = spawnChild('prometheus', server.path!, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${webPort}`], { echo: false });
      const api = `http://127.0.0.1:${webPort}/api/v1`;
      const query = async (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => {
        const response = await fetch(`${api}/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
        if (!response?.ok) return [];
        return ((await response.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result;
      };

      // Both workers up, and every port of the range a target (the rest down: nothing listens there).
      const up = await eventually(
        'Prometheus to scrape the range and find two workers up',
        async () => {
          const [targets, found] = [await query('count(up{job="tis-workflows-worker"})'), await query('up{job="tis-workflows-worker"} == 1')];
          return targets[0]?.value[1] === String(METRICS_PORT_RANGE) && found.length >= 2 ? found : undefined;
        },
        90_000,
        { failed: () => prometheus?.exited() ?? workers.find((w) => w.exited())?.exited(), intervalMs: 500 },
      );
      const instances = up.map((s) => s.metric.instance).sort();
      expect(instances).toHaveLength(2);
      for (const instance of instances) expect(Number(instance!.split(':')[1])).toBeLessThan(base + METRICS_PORT_RANGE);
      expect(up.every((s) => s.metric.cluster === 'tis')).toBe(true);
      // Our metrics, from each worker.
      expect((await query('process_start_time_seconds{job="tis-workflows-worker"}')).map((s) => s.metric.instance).sort()).toEqual(instances);

      // The rules loaded and evaluated without error, and the one about the scrape itself is quiet with
      // workers up. (Whether the others fire depends on what earlier test files left running in this
      // namespace: a late CoJ is an alert, rightly; their firing is what the promtool cases prove.)
      const rules = await eventually(
        'the rules to be evaluated, TisWorkflowsNoWorkerUp inactive',
        async () => {
          const body = (await (await fetch(`${api}/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; state: string; lastError?: string }> }> } };
          const all = body.data.groups.flatMap((g) => g.rules);
          return all.length > 0 && all.every((r) => r.health === 'ok') && all.find((r) => r.name === 'TisWorkflowsNoWorkerUp')?.state === 'inactive' ? all : undefined;
        },
        30_000,
        { intervalMs: 500 },
      );
      expect(rules.map((r) => r.name).sort()).toEqual([...rulesFile.matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1]).sort());
    } finally {
      await prometheus?.stop();
      await Promise.all(workers.map((w) => w.stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
