/**
 * In-memory stand-ins at the issuance lifecycle's own seams (SecretStore, Issuer), for its unit tests. The
 * real stores and issuers are tested against OpenBao, the Key Vault double, Gitea and the registry doubles.
 */
import { Sensitive } from '../../../src/base/sensitive.ts';
import { RotatorError } from '../../../src/errors.ts';
import type {
  CredentialRef,
  IssuedCredential,
  Issuer,
  IssuerClass,
  ManagedCredential,
} from '../../../src/issuers/types.ts';
import type { SecretStore, StoreValue, StoreWrite } from '../../../src/providers/types.ts';

/** A KV-like store: versions per key, meta beside the value, check-and-set on the revision. */
export class MemoryStore implements SecretStore {
  readonly name = 'mem';
  readonly type = 'vault';
  readonly versions = new Map<string, StoreValue[]>();
  /** Throws on the next put, after (`applied`) or before writing. */
  failNextPut: 'before' | 'applied' | undefined;
  clock: () => Date;

  constructor(clock: () => Date) {
    this.clock = clock;
  }

  get(key: string): Promise<StoreValue> {
    const v = this.versions.get(key)?.at(-1);
    if (!v) return Promise.reject(new RotatorError('STORE_NOT_FOUND', `no ${key}`));
    return Promise.resolve(v);
  }

  check(): Promise<string> {
    return Promise.resolve('ok');
  }

  put(key: string, w: StoreWrite, ifRevision: string | null): Promise<StoreValue> {
    const list = this.versions.get(key) ?? [];
    if ((list.at(-1)?.revision ?? null) !== ifRevision)
      return Promise.reject(new RotatorError('STORE_CONFLICT', `${key} moved on`));
    if (this.failNextPut === 'before') {
      this.failNextPut = undefined;
      return Promise.reject(new RotatorError('STORE_UNAVAILABLE', 'store down'));
    }
    const fields = Object.fromEntries(
      Object.entries(w.fields).map(([k, v]) => [k, typeof v === 'string' ? v : v.reveal()]),
    );
    const revision = `${key}@${list.length + 1}`;
    const v: StoreValue = {
      value: new Sensitive(JSON.stringify(fields)),
      revision,
      version: revision,
      updatedAt: this.clock(),
      meta: w.meta,
    };
    list.push(v);
    this.versions.set(key, list);
    if (this.failNextPut === 'applied') {
      this.failNextPut = undefined;
      return Promise.reject(new RotatorError('STORE_UNAVAILABLE', 'answer lost'));
    }
    return Promise.resolve(v);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A registry's side: credentials with secrets, what works, what is revoked. */
export class FakeIssuer implements Issuer {
  readonly type = 'fake';
  readonly class: IssuerClass;
  readonly creds = new Map<string, ManagedCredential & { secret: string }>();
  readonly calls: string[] = [];
  clock: () => Date;
  #n = 0;
  /** Throws after minting (the value is lost) on the next issue. */
  failAfterMint = false;

  constructor(cls: IssuerClass, clock: () => Date) {
    this.class = cls;
    this.clock = clock;
    if (cls === 'dual-slot')
      for (const id of ['password1', 'password2'])
        this.creds.set(id, {
          id,
          label: `slot ${id}`,
          issuedAt: new Date(0),
          state: 'active',
          secret: `s-${id}-0`,
        });
    if (cls === 'paired-accounts')
      for (const id of ['robot-a', 'robot-b'])
        this.creds.set(id, {
          id,
          label: `robot ${id}`,
          issuedAt: new Date(0),
          state: 'disabled',
          secret: `s-${id}-0`,
        });
  }

  /** Whether a username/password pair logs in now. */
  accepts(username: string, password: string): boolean {
    const c = this.creds.get(username === 'tok' ? (password.split(':')[0] ?? '') : username);
    return (
      c !== undefined &&
      c.state === 'active' &&
      (username === 'tok' ? `${c.id}:${c.secret}` : c.secret) === password
    );
  }

  list(): Promise<ManagedCredential[]> {
    return Promise.resolve([...this.creds.values()].map(({ secret: _s, ...c }) => c));
  }

  issue(inUse: CredentialRef | undefined): Promise<IssuedCredential> {
    this.calls.push(`issue ${inUse?.id ?? '-'}`);
    const n = ++this.#n;
    const at = this.clock();
    let id: string;
    if (this.class === 'many-tokens') id = `t${n}`;
    else {
      const ids = this.class === 'dual-slot' ? ['password1', 'password2'] : ['robot-a', 'robot-b'];
      id = ids.find((x) => x !== inUse?.id) ?? 'x';
    }
    const secret = `s-${id}-${n}`;
    const c = {
      id,
      label: `${this.class === 'many-tokens' ? 'token' : 'cred'} ${id}`,
      issuedAt: at,
      state: 'active' as const,
      secret,
    };
    this.creds.set(id, c);
    if (this.failAfterMint) {
      this.failAfterMint = false;
      return Promise.reject(new RotatorError('ISSUER_UNAVAILABLE', 'answer lost'));
    }
    const username = this.class === 'many-tokens' ? 'tok' : id;
    const password = this.class === 'many-tokens' ? `${id}:${secret}` : secret;
    return Promise.resolve({
      ref: { id, label: c.label, issuedAt: at },
      username,
      password: new Sensitive(password),
    });
  }

  revoke(ref: CredentialRef): Promise<void> {
    this.calls.push(`revoke ${ref.id}`);
    const c = this.creds.get(ref.id);
    if (c) {
      if (this.class === 'many-tokens') this.creds.delete(ref.id);
      else if (this.class === 'paired-accounts') c.state = 'disabled';
      else this.creds.delete(ref.id);
    }
    return Promise.resolve();
  }

  check(): Promise<string> {
    return Promise.resolve('fake');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
