import { isRotatorError } from '../errors.ts';
import type { SecretStore } from './types.ts';

/** One call to a store as metrics count it: the store's name and type, the operation, how it ended. */
export interface StoreRequest {
  store: string;
  type: string;
  operation: 'get' | 'check' | 'put' | 'list';
  /** `ok`, or the error's kind: `not_found`, `auth`, `permission`, `unreachable`, `unavailable`, `conflict`… */
  outcome: string;
  seconds: number;
}

export type StoreRequestObserver = (r: StoreRequest) => void;

/** STORE_NOT_FOUND → not_found; anything not a store error → error. */
const outcomeOf = (e: unknown): string =>
  isRotatorError(e) && e.code.startsWith('STORE_') ? e.code.slice(6).toLowerCase() : 'error';

/**
 * The store with every call timed and reported to `observe` (request metrics), at the provider boundary:
 * one measure for every store type, whatever SDK or HTTP stack it uses underneath.
 */
export function measuredStore(s: SecretStore, observe: StoreRequestObserver): SecretStore {
  const timed = async <T>(operation: StoreRequest['operation'], call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const report = (outcome: string) =>
      observe({
        store: s.name,
        type: s.type,
        operation,
        outcome,
        seconds: (performance.now() - started) / 1000,
      });
    try {
      const out = await call();
      report('ok');
      return out;
    } catch (e) {
      report(outcomeOf(e));
      throw e;
    }
  };
  return {
    name: s.name,
    type: s.type,
    get: (key) => timed('get', () => s.get(key)),
    check: () => timed('check', () => s.check()),
    ...(s.put
      ? { put: (key, write, ifRevision) => timed('put', () => callPut(s, key, write, ifRevision)) }
      : {}),
    ...(s.listChildren ? { listChildren: (parent) => timed('list', () => callList(s, parent)) } : {}),
    ...(s.childKey ? { childKey: (parent, name) => callChildKey(s, parent, name) } : {}),
    close: () => s.close(),
  };
}

// Optional methods called on their store (`this` kept), present when the wrapper offers them.
const callPut = (s: SecretStore, ...a: Parameters<NonNullable<SecretStore['put']>>) => {
  if (!s.put) throw new Error(`store ${s.name} cannot be written`);
  return s.put(...a);
};
const callList = (s: SecretStore, parent: string) => {
  if (!s.listChildren) throw new Error(`store ${s.name} cannot list`);
  return s.listChildren(parent);
};
const callChildKey = (s: SecretStore, parent: string, name: string) => {
  if (!s.childKey) throw new Error(`store ${s.name} has no child keys`);
  return s.childKey(parent, name);
};
