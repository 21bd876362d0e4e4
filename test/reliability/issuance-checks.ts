/**
 * What the issuance reliability files check after a run, judged at the registry and in the store (helpers
 * in test/helpers/issuer-lab.ts), and the requests of the lifecycle's steps as a fault proxy matches them.
 */
import { expect } from 'vitest';
import type { IssuerLab, LabTarget } from '../helpers/issuer-lab.ts';
import { parkedPod } from '../helpers/issuer-lab.ts';
import type { CliResult } from '../helpers/rotator.ts';
import type { RequestMatch } from './fault-proxy.ts';

export const expectOk = (r: CliResult, what: string): void => {
  expect(r.code, `${what}: ${r.text}`).toBe(0);
};

interface TargetIssuance {
  target: string;
  revoked?: string[];
  pending?: { credential: string; waitsFor: string }[];
  error?: { step: string; code: string; message: string };
}

/** A target's part of the `issuance` field of the run summary. */
export const issuanceOf = (r: CliResult, target: string): Partial<TargetIssuance> =>
  ((r.summary?.['issuance'] ?? []) as TargetIssuance[]).find((x) => x.target === target) ?? {};

/**
 * When the grace time of the credentials the run left alone as possibly in flight (issued, not stored) ends,
 * as the run reported it (`its grace time (until <ISO>)`); undefined when there is none.
 */
export function graceEnds(r: CliResult, target: string): number | undefined {
  const ends = (issuanceOf(r, target).pending ?? []).flatMap((p) => {
    const until = /grace time \(until (\S+)\)/.exec(p.waitsFor)?.[1];
    return until === undefined ? [] : [Date.parse(until)];
  });
  return ends.length > 0 ? Math.max(...ends) : undefined;
}

export const storedId = (s: { data: Record<string, string> }): string =>
  s.data['regcred-credential-id'] ?? '';

/**
 * Exactly the stored credential is usable at the registry, the store's value works there, every namespace
 * is on it. Counted where it matters per class: no second token, no second slot left at all, no third robot.
 */
export async function expectSettled(t: LabTarget, at: string): Promise<void> {
  const id = storedId(await t.stored());
  const census = await t.census();
  expect(
    census.filter((c) => c.active).map((c) => c.id),
    `${at}: usable at the registry`,
  ).toEqual([id]);
  if (t.kind === 'harbor') expect(census.length, at).toBeLessThanOrEqual(2);
  else
    expect(
      census.map((c) => c.id),
      at,
    ).toEqual([id]);
  expect(await t.storedWorks(), `${at}: the stored credential works at the registry`).toBe(true);
  expect(await t.divergence(), at).toEqual([]);
}

/**
 * Two rotations of `targets` (first issue, then `--reissue`), with a parked pod on the first secret in each
 * target's first namespace: afterwards the robot or slot the next issue goes to has held a credential
 * before (the refresh and regeneration paths, not only the first create), and a superseded Secret is kept.
 * No settle time: no pod of these targets runs on the node yet.
 */
export async function twoRotations(lab: IssuerLab, targets: LabTarget[], lock: string): Promise<void> {
  const config = (n: number) =>
    lab.config(
      targets.map((t) => t.entry()),
      { lock: `${lock}-${n}`, settleSeconds: 0 },
    );
  expectOk(await lab.run(config(1), ['--rotate-now']), 'first issue');
  for (const t of targets) await parkedPod(t.namespaces[0] ?? '', 'app');
  expectOk(await lab.run(config(2), ['--rotate-now', '--reissue']), 'second issue');
}

/** The write of the store that records a new credential of `t`. */
export const storeWrite = (t: LabTarget): RequestMatch => ({
  method: /^(POST|PUT)$/,
  path: new RegExp(`/v1/secret/data/${t.path}$`),
});

/** The registry write that mints: Gitea's token create, Harbor's robot refresh, ACR's generateCredentials. */
export function issueWrite(t: LabTarget): RequestMatch {
  switch (t.kind) {
    case 'gitea':
      return { method: /^POST$/, path: /\/api\/v1\/users\/[^/]+\/tokens$/ };
    case 'harbor':
      return { method: /^PATCH$/, path: /\/api\/v2\.0\/robots\/\d+$/ };
    case 'acr':
      return { method: /^POST$/, path: /\/generateCredentials\?/ };
  }
}

/** The registry write that revokes `old`: Gitea's delete, Harbor's disable, ACR's slot-removing PATCH. */
export function revokeWrite(t: LabTarget, old: string): RequestMatch {
  switch (t.kind) {
    case 'gitea':
      return { method: /^DELETE$/, path: new RegExp(`/api/v1/users/[^/]+/tokens/${old}$`) };
    case 'harbor':
      return { method: /^PUT$/, path: /\/api\/v2\.0\/robots\/\d+$/, body: /"disable":true/ };
    case 'acr':
      return { method: /^PATCH$/, path: new RegExp(`/tokens/${t.object}\\?`) };
  }
}
