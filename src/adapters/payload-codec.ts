/**
 * Optional encryption of every payload Temporal stores (workflow inputs and results, signals, activity
 * arguments, memos): AES-256-GCM with the key in TISW_PAYLOAD_KEY, so that the history in Temporal's
 * database (or Temporal Cloud) holds no trainee data in the clear. Clients and workers must share the key;
 * the Temporal UI then shows encrypted payloads (a codec server would be the way to show them decoded).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keyId: string;

  /** `key`: 32 bytes. */
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error('the payload key must be 32 bytes (AES-256)');
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  // async: a failure (wrong key, tampered data) rejects the promise rather than throwing at the caller.
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((payload) => {
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', this.key, iv);
        const plain = Buffer.from(temporal.api.common.v1.Payload.encode(payload).finish());
        const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        return { metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID]: Buffer.from(this.keyId) }, data };
      }),
    );
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((payload) => {
        if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== ENCRYPTED_ENCODING) return payload; // written before encryption was on
        const keyId = Buffer.from(payload.metadata?.[KEY_ID] ?? []).toString();
        if (keyId !== this.keyId) throw new Error(`payload encrypted with key ${keyId}, but TISW_PAYLOAD_KEY is key ${this.keyId}`);
        const data = Buffer.from(payload.data ?? []);
        const decipher = createDecipheriv('aes-256-gcm', this.key, data.subarray(0, 12));
        decipher.setAuthTag(data.subarray(data.length - 16));
        const plain = Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
        return temporal.api.common.v1.Payload.decode(plain);
      }),
    );
  }
}
