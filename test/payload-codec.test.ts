import { randomBytes, randomUUID } from 'node:crypto';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING } from '../src/adapters/payload-codec';
import { connectClient } from '../src/adapters/temporal';
import { ConfigError, loadConfig } from '../src/config/config';
import { probeWorkflowId } from '../src/shared/probe';
import { probeWorkflow } from '../src/workflows';
import { testConfig, withWorker } from './support/system';
import { ensureSchedule, scheduleDefinitions } from '../src/client/schedules';

describe('payload encryption (TISW_PAYLOAD_KEY)', () => {
  it('round-trips payloads, and refuses another key', async () => {
    const codec = new AesGcmPayloadCodec(randomBytes(32));
    const payload = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"traineeTisId":"4711"}') };
    const [encrypted] = await codec.encode([payload]);
    expect(Buffer.from(encrypted?.data ?? []).toString('latin1')).not.toContain('4711');
    expect(await codec.decode([encrypted!])).toEqual([expect.objectContaining({ data: payload.data })]);
    await expect(new AesGcmPayloadCodec(randomBytes(32)).decode([encrypted!])).rejects.toThrow(/encrypted with key/);
  });

  it('is a 32-byte base64 key or a clear error that does not show it', () => {
    expect(() => loadConfig({ TISW_PAYLOAD_KEY: 'c2hvcnQ=' })).toThrow(ConfigError);
    expect(() => loadConfig({ TISW_PAYLOAD_KEY: 'c2hvcnQ=' })).toThrow(/TISW_PAYLOAD_KEY must be 32 bytes in base64; |TISW_PAYLOAD_KEY must be 32 bytes in base64 \(/);
    const key = randomBytes(32).toString('base64');
    expect(loadConfig({ TISW_PAYLOAD_KEY: key }).secrets).toContain(key);
  });

  it('leaves no plain payload in the workflow history when it is on', async () => {
    const base = testConfig();
    const config = { ...base, temporal: { ...base.temporal, payloadKey: randomBytes(32) } };
    const probeId = `secret-${randomUUID()}`;
    const client = await connectClient(config.temporal);
    const plainClient = await connectClient(base.temporal); // what someone reading Temporal's store would see
    try {
      const result = await withWorker(
        () => client.workflow.execute(probeWorkflow, { taskQueue: config.temporal.taskQueue, workflowId: probeWorkflowId(probeId), args: [{ probeId }] }),
        config,
      );
      expect(result.probeId).toBe(probeId); // the key holders read it
      const history = await plainClient.workflow.getHandle(probeWorkflowId(probeId)).fetchHistory();
      // The workflow id names it (ids are not payloads: keep personal data out of them); no payload does.
      const raw = JSON.stringify(history.events).split(probeWorkflowId(probeId)).join('');
      expect(raw).not.toContain(probeId);
      const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      expect(Buffer.from(input?.metadata?.encoding ?? []).toString()).toBe(ENCRYPTED_ENCODING);
    } finally {
      await client.connection.close();
      await plainClient.connection.close();
    }
  });

  it('names the key, not the converter, when a schedule was written under another key', async () => {
    const base = testConfig();
    const definition = { ...scheduleDefinitions(base)[0]!, scheduleId: `test-encrypted-${randomUUID()}` };
    const encrypting = await connectClient({ ...base.temporal, payloadKey: randomBytes(32) });
    const plain = await connectClient(base.temporal);
    try {
      expect(await ensureSchedule(encrypting, definition)).toBe('created');
      await expect(ensureSchedule(plain, definition)).rejects.toThrow(/written with payload encryption under another TISW_PAYLOAD_KEY/);
      expect(await ensureSchedule(encrypting, definition)).toBe('updated');
    } finally {
      await plain.schedule.getHandle(definition.scheduleId).delete();
      await encrypting.connection.close();
      await plain.connection.close();
    }
  });
});
