import { registerSecret, Sensitive } from '../../base/sensitive.ts';
import { ArmError, type ArmClient } from './client.ts';
import { armReason, issuerError, mapArmError, type Where } from './errors.ts';
import { parseArmTime, type SlotName, type TokenState } from './slots.ts';

interface GenerateResult {
  passwords?: { name?: unknown; value?: unknown; creationTime?: unknown; expiry?: unknown }[];
}

export interface GeneratedSlot {
  password: Sensitive;
  issuedAt: Date;
  expiresAt: Date | undefined;
}

export interface GenerateRequest {
  arm: ArmClient;
  where: Where;
  registryPath: string;
  tokenPath: string;
  slot: SlotName;
  expiry: Date;
  /** Reads the token again (with the caller's error mapping). */
  readBack: (doing: string) => Promise<TokenState>;
}

/**
 * generateCredentials for one slot: one POST, never resent once it may have reached ARM (each accepted
 * POST regenerates the slot); the value taken by the slot's name, not its position in the answer (which
 * lists both slots); the slot read back, so that a value someone else overwrote right after us is not
 * handed out.
 */
export async function generateSlot(r: GenerateRequest): Promise<GeneratedSlot> {
  const { where, slot } = r;
  const doing = `generateCredentials for slot ${slot}`;
  let result: GenerateResult;
  try {
    result = (await r.arm.post(`${r.registryPath}/generateCredentials`, {
      tokenId: r.tokenPath,
      expiry: r.expiry.toISOString(),
      name: slot,
    })) as GenerateResult;
  } catch (e) {
    const mapped = mapArmError(e, where, doing, 'generateCredentials/action');
    if (!(e instanceof ArmError && e.maybeApplied)) throw mapped;
    // The POST may have regenerated the slot, whose value nobody has now. The other slot is untouched;
    // the next issue regenerates this one again (it is still not the one in use).
    throw issuerError(
      mapped.code,
      where,
      `${doing} may have taken effect without an answer (${armReason(e)}); slot ${slot} is burned until the next issue regenerates it, the other slot is unchanged`,
      { cause: e, retryable: true, details: { ...mapped.details, slot, burned: true } },
    );
  }
  for (const p of result.passwords ?? []) if (typeof p.value === 'string') registerSecret(p.value);
  const mine = result.passwords?.find((p) => p.name === slot);
  if (typeof mine?.value !== 'string' || mine.value === '')
    throw issuerError(
      'ISSUER_UNAVAILABLE',
      where,
      `${doing}: the answer holds no value for ${slot}; slot ${slot} is burned until the next issue`,
      { retryable: true, details: { slot, burned: true } },
    );
  const password = new Sensitive(mine.value);
  const issuedAt = parseArmTime(mine.creationTime) ?? new Date();
  const after = await r.readBack(`reading slot ${slot} back after generating it`);
  const now = after.slots.find((s) => s.name === slot)?.createdAt;
  if (now === undefined || now.getTime() !== issuedAt.getTime())
    throw issuerError(
      'ISSUER_UNAVAILABLE',
      where,
      `slot ${slot} changed right after it was generated (created ${issuedAt.toISOString()}, now ${now?.toISOString() ?? 'absent'}): another client acts on this token; the value was discarded`,
      { retryable: true, details: { slot, burned: true } },
    );
  return { password, issuedAt, expiresAt: parseArmTime(mine.expiry) };
}
