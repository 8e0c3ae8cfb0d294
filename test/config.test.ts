import { CONFIG_TABLE, ConfigError, loadConfig } from '../src/config/config';
import { redactor } from '../src/config/redact';
import { createLogger } from '../src/config/logger';

describe('the config loader', () => {
  it('gives local defaults when nothing is set', () => {
    const config = loadConfig({ HOME: '/home/op' });
    expect(config.temporal).toEqual({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'tis-workflows' });
    expect(config.amqp.url).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(config.mongo.tss).toEqual({ uri: 'mongodb://127.0.0.1:27017/tisw', database: 'tisw' });
    expect(config.mongo.esr).toEqual(config.mongo.tss);
    expect(config.local.dataDir).toBe('/home/op/.local/share/tis-workflows');
    expect(config.local.temporalUiPort).toBe(8233);
    expect(config.codecServer).toEqual({ port: 8234, allowedOrigins: ['http://127.0.0.1:8233', 'http://localhost:8233'] });
    expect(loadConfig({ TISW_CODEC_ALLOWED_ORIGINS: 'https://ui.example.net, http://10.0.0.1:8080/' }).codecServer.allowedOrigins).toEqual(['https://ui.example.net', 'http://10.0.0.1:8080']);
  });

  it.each([
    [{ TEMPORAL_ADDRESS: 'localhost' }, /TEMPORAL_ADDRESS must be host:port/],
    [{ TEMPORAL_ADDRESS: 'h:99999' }, /TEMPORAL_ADDRESS must be host:port/],
    [{ AMQP_URL: 'http://x' }, /AMQP_URL must start with amqp:\/\/ or amqps:\/\//],
    [{ AMQP_URL: 'nonsense' }, /AMQP_URL must be a URL/],
    [{ AMQP_CONFIRM_TIMEOUT_MS: '-5' }, /AMQP_CONFIRM_TIMEOUT_MS must be a whole number/],
    [{ MONGODB_URI: 'mongodb://h:27017' }, /MONGODB_URI must name its database/],
    [{ ESR_MONGODB_URI: 'postgres://h/db' }, /ESR_MONGODB_URI must be a URI/],
    [{ TISW_TEMPORAL_UI_PORT: '0' }, /TISW_TEMPORAL_UI_PORT must be a whole number from 1 to 65535/],
    [{ TEMPORAL_TLS_CERT: '/c.pem' }, /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
    [{ TISW_CODEC_ALLOWED_ORIGINS: 'https://ui.example.net/path' }, /TISW_CODEC_ALLOWED_ORIGINS must be comma-separated origins/],
    [{ TISW_CODEC_PORT: 'x' }, /TISW_CODEC_PORT must be a whole number/],
    [{ TEMPORAL_TLS: 'yes' }, /TEMPORAL_TLS must be true or false/],
    [{ COJ_REPLY_WAIT_SECONDS: '9' }, /COJ_REPLY_WAIT_SECONDS must be a whole number from 0 to 8/],
    [{ TISW_PAYLOAD_KEY: 'c2hvcnQ=' }, /TISW_PAYLOAD_KEY must be 32 bytes in base64/],
    [{ TISW_ALERT_WEBHOOK_URL: 'ftp://hooks.example.net/x' }, /TISW_ALERT_WEBHOOK_URL must start with http:\/\/ or https:\/\//],
    [{ TISW_POSTGRESQL_URL: 'postgres://127.0.0.1:5432' }, /TISW_POSTGRESQL_URL must name a database/],
  ])('stops on %j with a message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('gives the timings their documented defaults, in milliseconds', () => {
    const config = loadConfig({});
    expect(config.coj).toEqual({
      acknowledgement: 'synced',
      syncWatchIntervalMs: 5_000,
      syncWaitMs: 5_000,
      syncStalledAfterMs: 180_000,
      slaMs: 900_000,
      resendInitialMs: 60_000,
      resendMaxMs: 600_000,
      replyWaitMs: 5_000,
      reconcileEveryMs: 120_000,
      reconcileAfterMs: 120_000,
    });
    expect(config.esr).toMatchObject({ acknowledgement: 'observed', observeIntervalMs: 5_000 });
    expect(config.mongo.tssProfilesCollection).toBe('TraineeProfile');
    expect(config.monitor).toEqual({ intervalMs: 30_000, idleAfterMs: 120_000, ackBacklog: 100 });
    expect({ confirm: config.amqp.confirmTimeoutMs, metrics: config.metricsPort, log: config.logLevel }).toEqual({ confirm: 10_000, metrics: 9464, log: 'info' });
    expect(loadConfig({ COJ_RECONCILE_EVERY_MINUTES: '10', MONITOR_INTERVAL_SECONDS: '1' })).toMatchObject({ coj: { reconcileEveryMs: 600_000 }, monitor: { intervalMs: 1000 } });
  });

  it.each(Object.keys(CONFIG_TABLE).filter((name) => !('readBy' in CONFIG_TABLE[name as keyof typeof CONFIG_TABLE])))('names %s when its value is wrong, or takes any value', (name) => {
    // Every variable the loader reads either accepts this value or stops with a message naming it.
    try {
      loadConfig({ [name]: 'not://a valid|value', TEMPORAL_TLS_CERT: name === 'TEMPORAL_TLS_KEY' ? '/c' : undefined });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(new RegExp(`^${name}\\b`));
    }
  });

  it('reads per-store MongoDB URIs, each with its own database, falling back to MONGODB_URI', () => {
    const config = loadConfig({ MONGODB_URI: 'mongodb://h:1/shared', ESR_MONGODB_URI: 'mongodb+srv://u:p@cluster.example.net/esr?retryWrites=true' });
    expect(config.mongo.tss.database).toBe('shared');
    expect(config.mongo.esr).toEqual({ uri: 'mongodb+srv://u:p@cluster.example.net/esr?retryWrites=true', database: 'esr' });
  });

  it('turns TLS on for an API key, and keeps mTLS file paths', () => {
    expect(loadConfig({ TEMPORAL_API_KEY: 'k' }).temporal).toMatchObject({ apiKey: 'k', tls: {} });
    expect(loadConfig({ TEMPORAL_TLS_CERT: '/c', TEMPORAL_TLS_KEY: '/k', TEMPORAL_TLS_CA: '/ca' }).temporal.tls).toEqual({
      clientCertPath: '/c',
      clientKeyPath: '/k',
      serverRootCaPath: '/ca',
    });
  });

  it('never echoes a value that may hold a password in its errors', () => {
    const password = 's3cr3t-pw';
    for (const env of [{ AMQP_URL: `http://u:${password}@h` }, { MONGODB_URI: `mongodb://u:${password}@h:1` }, { AMQP_URL: `amqp://u:${password}@` }]) {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      try {
        loadConfig(env);
      } catch (err) {
        expect((err as Error).message).not.toContain(password);
      }
    }
  });

  it('collects every secret, and the redactor and the logger scrub them from any text', () => {
    const config = loadConfig({
      AMQP_URL: 'amqps://svc:amqp%40pw@mq.example.net:5671/tis',
      MONGODB_URI: 'mongodb://svc:mongo-pw@db.example.net:27017/tisw',
      TEMPORAL_API_KEY: 'api-key-123',
    });
    expect(config.secrets).toEqual(expect.arrayContaining(['amqp%40pw', 'amqp@pw', 'mongo-pw', 'api-key-123']));
    const redact = redactor(config.secrets);
    expect(redact(`failed: connect amqps://svc:amqp@pw@mq and key api-key-123 and mongo-pw`)).toBe('failed: connect amqps://svc:***@mq and key *** and ***');

    const lines: string[] = [];
    createLogger(config, 'test', { write: (line: string) => lines.push(line) }).error({ url: config.amqp.url }, 'could not connect with api-key-123');
    const logged = lines.join('');
    expect(logged).toContain('could not connect');
    for (const secret of config.secrets) expect(logged).not.toContain(secret);
  });
});
