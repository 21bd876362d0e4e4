import * as z from 'zod';
import { RotatorError } from '../errors.ts';
import type { StoreValue } from '../providers/types.ts';
import { checkCredential, parseDockerConfigJson, type RegistryCredential } from './dockerconfig.ts';

const keyRef = z.strictObject({ key: z.string().min(1, 'key must not be empty') });

/**
 * The three ways a store can hold a target's credentials. In the config a shape is chosen by the keys given
 * (`username` + `password`, `json` or `dockerconfigjson`); parsing tags it with `shape`, so the rest of the
 * program switches on one field.
 */
/** `username` and `password` are one shape: either alone is named as half of it, not as a missing field. */
const pairedRef = z.strictObject(keyRef.shape, {
  error: (iss) => (iss.input === undefined ? 'username and password go together: give both' : undefined),
});

const members = [
  z.strictObject({ shape: z.literal('username-password'), username: pairedRef, password: pairedRef }),
  z.strictObject({ shape: z.literal('json'), json: keyRef }),
  z.strictObject({ shape: z.literal('dockerconfigjson'), dockerconfigjson: keyRef }),
] as const;

const SHAPES = ['username-password', 'json', 'dockerconfigjson'] as const;
type Shape = (typeof SHAPES)[number];

const SHAPE_KEYS: Record<string, Shape> = {
  username: 'username-password',
  password: 'username-password',
  json: 'json',
  dockerconfigjson: 'dockerconfigjson',
};

/** The shapes whose keys the object has, in the order the config documents them. */
function shapesIn(v: object): Shape[] {
  const found = new Set(Object.keys(v).map((k) => SHAPE_KEYS[k]));
  return SHAPES.filter((s) => found.has(s));
}

const describe = (s: Shape): string => (s === 'username-password' ? 'username + password' : s);

export const credentialsSchema = z.preprocess(
  (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || 'shape' in v) return v;
    const shapes = shapesIn(v);
    return shapes.length === 1 ? { ...v, shape: shapes[0] } : v;
  },
  z.discriminatedUnion('shape', members, {
    error: (iss): string | undefined => {
      const v = iss.input;
      if (typeof v !== 'object' || v === null) return undefined;
      const shapes = shapesIn(v);
      return shapes.length === 0
        ? 'give one of: username + password, json, dockerconfigjson'
        : `give only one shape, not ${shapes.map(describe).join(' and ')}`;
    },
  }),
);
export type CredentialsConfig = z.infer<typeof credentialsSchema>;
export type CredentialsShape = CredentialsConfig['shape'];

/** The store keys a credentials config reads, in order. */
export function keysOf(c: CredentialsConfig): string[] {
  switch (c.shape) {
    case 'username-password':
      return [c.username.key, c.password.key];
    case 'json':
      return [c.json.key];
    case 'dockerconfigjson':
      return [c.dockerconfigjson.key];
  }
}

/** What a shape's reader gets: the values of `keysOf(c)`, in that order, and where they came from. */
export interface ShapeInput {
  values: readonly StoreValue[];
  registries: readonly string[];
  store: string;
}

type Reader<S extends CredentialsShape> = (
  c: Extract<CredentialsConfig, { shape: S }>,
  input: ShapeInput,
) => RegistryCredential[];

/** One reader per shape: store values → registry credentials, validated as the kubelet would read them. */
const READERS: { [S in CredentialsShape]: Reader<S> } = {
  'username-password': (c, { values, registries, store }) => {
    const [u, p] = values.map((v) => v.value.reveal());
    const origin = { store, key: `${c.username.key} + ${c.password.key}` };
    return registries.map((r) => checkCredential(r, u ?? '', p ?? '', undefined, origin));
  },
  json: (c, { values, registries, store }) => {
    const origin = { store, key: c.json.key };
    const j = parseJsonCredential(values[0]?.value.reveal() ?? '', origin);
    return registries.map((r) => checkCredential(r, j.username, j.password, j.email, origin));
  },
  dockerconfigjson: (c, { values, registries, store }) => {
    const origin = { store, key: c.dockerconfigjson.key };
    const all = parseDockerConfigJson(values[0]?.value.reveal() ?? '', origin);
    if (registries.length === 0) return all;
    return registries.map((r) => {
      const found = all.find((x) => x.registry === r);
      if (!found) {
        throw new RotatorError(
          'STORE_VALUE_MALFORMED',
          `store "${store}" key "${origin.key}": has no entry for registry "${r}" (it has: ${all.map((x) => x.registry).join(', ')})`,
          { details: origin },
        );
      }
      return found;
    });
  },
};

export function readShape(c: CredentialsConfig, input: ShapeInput): RegistryCredential[] {
  return (READERS[c.shape] as Reader<CredentialsShape>)(c, input);
}

function parseJsonCredential(
  text: string,
  origin: { store: string; key: string },
): { username: string; password: string; email?: string | undefined } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new RotatorError(
      'STORE_VALUE_MALFORMED',
      `store "${origin.store}" key "${origin.key}": is not valid JSON (expected {"username": ..., "password": ...})`,
      { details: origin },
    );
  }
  const o = doc as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new RotatorError(
      'STORE_VALUE_MALFORMED',
      `store "${origin.store}" key "${origin.key}": is not a JSON object with username and password`,
      { details: origin },
    );
  }
  const { username, password, email } = o;
  if (
    typeof username !== 'string' ||
    typeof password !== 'string' ||
    (email !== undefined && typeof email !== 'string')
  ) {
    throw new RotatorError(
      'STORE_VALUE_MALFORMED',
      `store "${origin.store}" key "${origin.key}": "username" and "password" must be strings`,
      { details: origin },
    );
  }
  return { username, password, email };
}
