import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { temporal } from '@temporalio/proto';
import { PROJECT_ROOT } from '../src/local/project';
import { AesGcmPayloadCodec } from '../src/adapters/payload-codec';
import { startCodecServer, type CodecServer } from '../src/adapters/codec-server';
import { connectClient } from '../src/adapters/temporal';
import { ensureServersBuilt } from '../src/local/servers';
import { freePort } from '../src/local/ports';
import { startTemporalDevServer } from '../src/local/temporal-dev-server';
import { probeWorkflowId } from '../src/shared/probe';
import { probeWorkflow } from '../src/workflows';
import { testConfig, testLogger, withWorker } from './support/system';

const UI = 'http://127.0.0.1:8233';

/** A history payload as the UI sends it: proto3 JSON, bytes in base64. */
function asJson(payload: temporal.api.common.v1.IPayload): Record<string, unknown> {
  return temporal.api.common.v1.Payload.toObject(temporal.api.common.v1.Payload.create(payload), { bytes: String });
}

describe('the codec server (the Temporal UI shows encrypted payloads decoded)', () => {
  const key = randomBytes(32);
  const codec = new AesGcmPayloadCodec(key);
  let server: CodecServer;
  const call = (route: string, body: unknown, origin = UI): Promise<Response> =>
    fetch(`${server.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', origin, 'x-namespace': 'default' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  beforeAll(async () => {
    server = await startCodecServer({ codec, port: 0, allowedOrigins: [UI], log: testLogger() });
  });
  afterAll(async () => {
    await server.close();
  });

  it('decodes the encrypted input of a real run, as the UI asks for it', async () => {
    const base = testConfig();
    const config = { ...base, temporal: { ...base.temporal, payloadKey: key } };
    const probeId = `codec-${randomUUID()}`;
    const client = await connectClient(config.temporal);
    const plainClient = await connectClient(base.temporal); // what the UI reads from Temporal: encrypted payloads
    try {
      await withWorker(() => client.workflow.execute(probeWorkflow, { taskQueue: config.temporal.taskQueue, workflowId: probeWorkflowId(probeId), args: [{ probeId }] }), config);
      const history = await plainClient.workflow.getHandle(probeWorkflowId(probeId)).fetchHistory();
      const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      expect(Buffer.from(input?.data ?? []).toString('latin1')).not.toContain(probeId);

      const response = await call('/decode', { payloads: [asJson(input!)] });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe(UI);
      const { payloads } = (await response.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> };
      expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString())).toEqual({ probeId });
    } finally {
      await client.connection.close();
      await plainClient.connection.close();
    }
  });

  it('encodes what the UI sends (a signal typed in the UI), so the workers can read it', async () => {
    const plain = asJson({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"x":1}') });
    const encoded = (await (await call('/encode', { payloads: [plain] })).json()) as { payloads: Array<Record<string, unknown>> };
    const [decoded] = await codec.decode(encoded.payloads.map((p) => temporal.api.common.v1.Payload.fromObject(p)));
    expect(Buffer.from(decoded!.data!).toString()).toBe('{"x":1}');
  });

  it('answers the browser preflight for the UI, and refuses other origins', async () => {
    const preflight = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/x-namespace/);
    const elsewhere = await call('/decode', { payloads: [] }, 'https://evil.example');
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it.each([
    ['not JSON', 'payloads please', 400, /not JSON/],
    ['no payloads array', { payload: [] }, 400, /no "payloads" array/],
    ['a payload encrypted with another key', 'other-key', 422, /encrypted with key/],
  ])('says what is wrong with %s, and keeps serving', async (_what, body, status, message) => {
    const payload = body === 'other-key' ? { payloads: (await new AesGcmPayloadCodec(randomBytes(32)).encode([{ metadata: {}, data: Buffer.from('{}') }])).map(asJson) } : body;
    const response = await call('/decode', payload);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { error: string }).error).toMatch(message);
    expect((await call('/decode', { payloads: [] })).status).toBe(200);
  });

  it('is where the local Temporal UI sends its decode requests when the dev server is started with it', async () => {
    const uiPort = await freePort();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tisw-codec-'));
    const devServer = await startTemporalDevServer({ bin: (await ensureServersBuilt()).temporal, port: await freePort(), uiPort, uiCodecEndpoint: server.url, echo: false, dbFile: path.join(tmp, 'temporal.db') });
    try {
      const settings = (await (await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string } };
      expect(settings.Codec?.Endpoint).toBe(server.url);
    } finally {
      await devServer.child.stop();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('runs as `tisw codec-server` when payloads are encrypted, and says why not otherwise', async () => {
    const bin = path.join(PROJECT_ROOT, 'bin', 'tisw.js');
    const refused = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [bin, 'codec-server'], { env: { ...process.env, TISW_PAYLOAD_KEY: '' } }, (err, _out, stderr) => resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr })),
    );
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/TISW_PAYLOAD_KEY is not set/) });

    const child = spawn(process.execPath, [bin, 'codec-server', '--port', '0'], { env: { ...process.env, TISW_PAYLOAD_KEY: key.toString('base64') } });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const found = /codec server on (http:\/\/\S+)/.exec(chunk.toString());
        if (found) resolve(found[1]!);
      });
      child.once('exit', () => reject(new Error('tisw codec-server exited before it listened')));
    });
    const [encrypted] = await codec.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"hello"') }]);
    const response = await fetch(`${url}/decode`, { method: 'POST', headers: { origin: 'http://localhost:8233' }, body: JSON.stringify({ payloads: [asJson(encrypted!)] }) });
    const { payloads } = (await response.json()) as { payloads: Array<{ data: string }> };
    expect(Buffer.from(payloads[0]!.data, 'base64').toString()).toBe('"hello"');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
