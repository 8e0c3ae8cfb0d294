/** Test data for CoJ submissions: unique ids per test, the TSS profile and the TIS programme membership. */
import { randomInt, randomUUID } from 'node:crypto';
import type { CojSignature } from '../../src/shared/contract';
import type { TssStore } from '../../src/adapters/tss-store';
import type { TisStore } from '../../src/adapters/tis-store';

export function newSignature(overrides: Partial<CojSignature> = {}): CojSignature {
  return {
    programmeMembershipTisId: randomUUID(),
    traineeTisId: String(randomInt(1, 2 ** 47)),
    signedAt: new Date(Date.now() - 1000).toISOString(),
    version: 'GG10',
    ...overrides,
  };
}

/** What TSS has when a trainee signs, and what TIS knows of the programme membership. */
export async function signed(tss: TssStore, tis: TisStore | undefined, s: CojSignature): Promise<CojSignature> {
  await tss.saveSignature(s);
  if (tis) await tis.addProgrammeMembership(s.programmeMembershipTisId, s.traineeTisId);
  return s;
}

export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
