/**
 * An alert from a real fault to the operators' webhook through the shipped Prometheus side, all real: a
 * `tisw worker` process (its system monitor checking every second), the reference receivers, a Prometheus
 * scraping the worker with deploy/prometheus's scrape configuration and rules, and an Alertmanager with
 * deploy/prometheus/alertmanager.yml delivering to a local webhook. The fault: the TIS receiver stopped
 * while a CoJ waits for it. The figure printed is the time from the fault to the webhook, beside what it is
 * made of; docs/operating.md has it. Prometheus and Alertmanager are Debian's packages
 * (test/support/prometheus-tools.ts installs them where missing); where they cannot be had, this skips.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PROJECT_ROOT } from '../src/local/project';
import { freePort } from '../src/local/ports';
import { spawnChild, type Child } from '../src/local/child';
import { eventually } from '../src/shared/poll';
import { loadConfig } from '../src/config/config';
import { MONITOR_WORKFLOW_ID } from '../src/shared/monitor';
import { QUEUES } from '../src/shared/amqp';
import { cojWorkflowId } from '../src/shared/coj';
import { readBrokerState } from '../src/adapters/broker-state';
import { prometheusTool } from './support/prometheus-tools';
import { startTisw, tisw } from './support/processes';
import { startJsonReceiver } from './support/webhook';
import { testClient } from './support/system';

const DEPLOY = path.join(PROJECT_ROOT, 'deploy', 'prometheus');
const tools = { prometheus: prometheusTool('prometheus'), alertmanager: prometheusTool('alertmanager') };
const whyNot = tools.prometheus.whyNot ?? tools.alertmanager.whyNot;
const withTools = whyNot === undefined ? describe : describe.skip;

/** The monitor as the test runs it (production: 30 s and 120 s); the parts of the figure. */
const MONITOR = { intervalSeconds: 1, idleAfterSeconds: 5 };
const PROMETHEUS_INTERVAL_SECONDS = 1;
const GROUP_WAIT_SECONDS = 1;

/** Alertmanager's webhook payload (version 4), as much of it as is checked. */
interface AlertmanagerNotification {
  status: 'firing' | 'resolved';
  receiver: string;
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }>;
}

/** Ends these runs where they run (the monitor: so that the worker starts one of this test's settings). */
async function terminateRuns(...workflowIds: string[]): Promise<void> {
  const client = await testClient();
  try {
    for (const id of workflowIds) await client.workflow.getHandle(id).terminate('alertmanager test: done with it').catch(() => undefined);
  } finally {
    await client.connection.close();
  }
}

withTools(`an alert through Prometheus and Alertmanager${whyNot === undefined ? '' : ` (skipped: ${whyNot})`}`, () => {
  it('reaches the operators\' webhook after the TIS receiver stops with a CoJ waiting, and says which kind', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tisw-alertmanager-'));
    const webhook = await startJsonReceiver<AlertmanagerNotification>();
    const children: Child[] = [];
    const programmeMembership = randomUUID();
    // The worker's monitor must be one of these settings, on a task queue of this test's own: the one a
    // file before may have left in this namespace is ended (and this one after), so the worker starts it.
    await terminateRuns(MONITOR_WORKFLOW_ID);
    const env = {
      TEMPORAL_TASK_QUEUE: `alertmanager-${randomUUID()}`,
      MONITOR_INTERVAL_SECONDS: String(MONITOR.intervalSeconds),
      MONITOR_IDLE_AFTER_SECONDS: String(MONITOR.idleAfterSeconds),
    };
    try {
      const metricsPort = await freePort();
      const worker = startTisw('worker', { ...env, TISW_METRICS_PORT: String(metricsPort) });
      const receivers = startTisw('receivers', env);
      children.push(worker, receivers);

      // The shipped files, pointed at this host and with test timings: Alertmanager's webhook url and
      // group_wait, Prometheus's one target, intervals and Alertmanager.
      const [amPort, amClusterPort, promPort] = [await freePort(), await freePort(), await freePort()];
      const am = fs
        .readFileSync(path.join(DEPLOY, 'alertmanager.yml'), 'utf8')
        .replace(/url: \S+/, `url: ${webhook.url}`)
        .replace(/group_wait: \S+/, `group_wait: ${GROUP_WAIT_SECONDS}s`);
      expect(am).toContain(webhook.url);
      fs.writeFileSync(path.join(dir, 'alertmanager.yml'), am);
      const scrape = fs.readFileSync(path.join(DEPLOY, 'prometheus.yml'), 'utf8');
      const firstHostOnly = scrape.slice(0, scrape.indexOf('      - labels:')) + `      - labels:\n          cluster: tis\n        targets:\n          - 127.0.0.1:${metricsPort}\n`;
      const prom = firstHostOnly.replace(/(scrape|evaluation)_interval: 15s/g, `$1_interval: ${PROMETHEUS_INTERVAL_SECONDS}s`).replace('alertmanager-host:9093', `127.0.0.1:${amPort}`);
      expect(prom).toContain(`127.0.0.1:${amPort}`);
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), prom);
      fs.copyFileSync(path.join(DEPLOY, 'tisw-rules.yml'), path.join(dir, 'tisw-rules.yml'));
      const alertmanager = spawnChild(
        'alertmanager',
        tools.alertmanager.path!,
        [`--config.file=${path.join(dir, 'alertmanager.yml')}`, `--storage.path=${path.join(dir, 'am')}`, `--web.listen-address=127.0.0.1:${amPort}`, `--cluster.listen-address=127.0.0.1:${amClusterPort}`],
        { echo: false },
      );
      const prometheus = spawnChild('prometheus', tools.prometheus.path!, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`], { echo: false });
      children.push(alertmanager, prometheus);
      const failed = (): Error | undefined => children.map((c) => c.exited()).find((e) => e !== undefined);
      const query = async (q: string): Promise<Array<{ value: [number, string] }>> => {
        const response = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => undefined);
        return response?.ok ? ((await response.json()) as { data: { result: Array<{ value: [number, string] }> } }).data.result : [];
      };

      // Everything up before the fault: the worker scraped, Prometheus sending to an Alertmanager that is
      // ready, TIS's receiver consuming its queue.
      await eventually('Prometheus to scrape the worker', async () => ((await query('up{job="tis-workflows-worker"} == 1')).length === 1 ? true : undefined), 90_000, { failed, intervalMs: 250 });
      await eventually('Alertmanager ready, and known to Prometheus', async () => {
        const ready = await fetch(`http://127.0.0.1:${amPort}/-/ready`).then((r) => r.ok, () => false);
        const known = await fetch(`http://127.0.0.1:${promPort}/api/v1/alertmanagers`).then(async (r) => ((await r.json()) as { data: { activeAlertmanagers: unknown[] } }).data.activeAlertmanagers.length > 0, () => false);
        return ready && known ? true : undefined;
      }, 30_000, { failed, intervalMs: 250 });
      const amqpUrl = loadConfig().amqp.url;
      const consumers = async (): Promise<number> => (await readBrokerState(amqpUrl, [QUEUES.cojSigned], QUEUES.brokerCheck)).queues[0]?.consumers ?? 0;
      await eventually('the TIS receiver to consume its queue', async () => ((await consumers()) > 0 ? true : undefined), 30_000, { failed, intervalMs: 250 });
      expect(webhook.bodies).toEqual([]); // nothing wrong yet, nothing sent

      // The fault: TIS's receiver goes, and a trainee signs a CoJ that now waits on its queue.
      await receivers.stop();
      children.splice(children.indexOf(receivers), 1);
      const faultAt = Date.now();
      const submitted = await tisw(['coj', 'submit', '--programme-membership', programmeMembership, '--trainee', String(Date.now() % 1_000_000), '--signed-at', new Date().toISOString(), '--version', 'GG10'], env);
      expect({ code: submitted.code, stderr: submitted.stderr }).toEqual({ code: 0, stderr: '' });

      const firing = await eventually(
        'the webhook to be told of queue-idle',
        async () => webhook.bodies.find((b) => b.status === 'firing' && b.alerts.some((a) => a.labels.alertname === 'TisWorkflowsAlert' && a.labels.kind === 'queue-idle')),
        120_000,
        { failed, intervalMs: 100 },
      );
      const faultToWebhookMs = webhook.receivedAt(firing) - faultAt;
      expect(firing.receiver).toBe('tis-operators');
      expect(firing.alerts[0]?.annotations.summary).toBe('tis-workflows raised queue-idle');
      // Only what the fault caused: no other alert, nor the same one twice.
      expect(webhook.bodies).toEqual([firing]);
      // Not sooner than the monitor's hold: the alert is the monitor's, not an artefact of the start.
      expect(faultToWebhookMs).toBeGreaterThanOrEqual(MONITOR.idleAfterSeconds * 1000);
      process.stdout.write(
        `fault (TIS receiver stopped, a CoJ waiting) to the Alertmanager webhook: ${(faultToWebhookMs / 1000).toFixed(1)} s ` +
          `(monitor: hold ${MONITOR.idleAfterSeconds} s, every ${MONITOR.intervalSeconds} s; Prometheus scrape and evaluation every ${PROMETHEUS_INTERVAL_SECONDS} s; group_wait ${GROUP_WAIT_SECONDS} s)\n`,
      );
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      await webhook.close();
      await terminateRuns(MONITOR_WORKFLOW_ID, cojWorkflowId(programmeMembership));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
