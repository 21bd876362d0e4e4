import * as z from 'zod';

const auth = z.discriminatedUnion(
  'method',
  [
    z.strictObject({
      method: z.literal('token'),
      /** File holding the token (e.g. written by Vault Agent); re-read when the token stops working. */
      tokenFile: z.string().optional(),
      /** Environment variable holding the token when no file is given. */
      tokenEnv: z.string().default('VAULT_TOKEN'),
    }),
    z
      .strictObject({
        method: z.literal('approle'),
        mount: z.string().default('approle'),
        roleId: z.string().min(1).optional(),
        roleIdFile: z.string().min(1).optional(),
        /** The secret id is a credential: it comes from a file or the environment, never from the config. */
        secretIdFile: z.string().optional(),
        secretIdEnv: z.string().default('VAULT_SECRET_ID'),
      })
      // Checked with the config (validate finds it), not at the first login.
      .check((ctx) => {
        const { roleId, roleIdFile } = ctx.value;
        if ((roleId === undefined) === (roleIdFile === undefined))
          ctx.issues.push({
            code: 'custom',
            input: ctx.value,
            message: `give roleId or roleIdFile for AppRole${roleId === undefined ? '' : ', not both'}`,
          });
      }),
    z.strictObject({
      method: z.literal('kubernetes'),
      mount: z.string().default('kubernetes'),
      role: z.string().min(1),
      /** The pod's ServiceAccount token (projected or legacy); read at every login. */
      tokenFile: z.string().default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
    }),
  ],
  { error: () => 'must be one of: token, approle, kubernetes' },
);

export const vaultStoreSchema = z.strictObject({
  type: z.literal('vault'),
  address: z.url({ error: 'address must be a URL such as https://vault.example.com:8200' }),
  /** KV v2 mount path. */
  mount: z.string().min(1).default('secret'),
  /** Vault Enterprise / OpenBao namespace (sent as X-Vault-Namespace). */
  namespace: z.string().optional(),
  /** PEM CA bundle to trust instead of the system roots. */
  caFile: z.string().optional(),
  auth: auth.prefault({ method: 'token' }),
  requestTimeoutSeconds: z.number().positive().default(10),
});
export type VaultStoreConfig = z.infer<typeof vaultStoreSchema>;
export type VaultAuthConfig = VaultStoreConfig['auth'];

/** The key of record `name` under `parent`: a KV path below it. */
export const vaultChildKey = (parent: string, name: string): string =>
  `${parent.replace(/\/+$/, '')}/${name}`;
