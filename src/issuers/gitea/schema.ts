import * as z from 'zod';
import { secretRefSchema } from '../context.ts';

/** Gitea's token scopes (models/auth/access_token_scope.go): `all`, `public-only`, `read|write:<category>`. */
const SCOPE =
  /^(all|public-only|(read|write):(activitypub|admin|issue|misc|notification|organization|package|repository|user))$/;

/**
 * A Gitea (or Forgejo) user whose access tokens the rotator mints as registry credentials.
 *
 * Who may create and delete tokens of `user` (Gitea's routers/api/v1/api.go, `/users/{username}/tokens`:
 * reqSelfOrAdmin + reqBasicOrRevProxyAuth; routers/api/v1/user/app.go): only Basic auth is accepted (an
 * `Authorization: token …` header is refused), as the user itself or as a site admin (also through `Sudo`).
 * The password part of that Basic login may be the user's password or one of the user's own tokens; a token
 * needs the `write:user` scope and may only mint tokens whose scopes its own cover. So the least privilege is
 * `login.username` = `user` with a dedicated management token scoped `write:user,read:package` as the
 * password: it cannot sign in to the web UI, reach repositories or organisations, or mint anything broader
 * than `read:package`, and it skips two-factor prompts that a password login would face. A site admin works
 * too but can do anything on the server; the user's password works but is the whole account.
 */
export const giteaTokenIssuerSchema = z.strictObject({
  type: z.literal('gitea-token'),
  /** The Gitea server, e.g. https://gitea.example.com (a sub-path is kept). */
  url: z.url({ error: 'url must be a URL such as https://gitea.example.com' }),
  /** The user whose tokens are minted: the pull identity, a non-admin member of a team with packages=read. */
  user: z.string().min(1),
  /** The managing identity (Basic auth). See above for the least-privileged choice. */
  login: z.strictObject({ username: z.string().min(1), password: secretRefSchema }),
  /** Scopes of every minted token; a pull secret needs only `read:package`. */
  scopes: z
    .array(z.string().regex(SCOPE, { error: 'not a Gitea token scope (e.g. read:package)' }))
    .min(1)
    .default(['read:package']),
  /** PEM CA bundle to trust instead of the system roots (plus NODE_EXTRA_CA_CERTS). */
  caFile: z.string().optional(),
  requestTimeoutSeconds: z.number().positive().default(15),
});
export type GiteaTokenIssuerConfig = z.infer<typeof giteaTokenIssuerSchema>;
