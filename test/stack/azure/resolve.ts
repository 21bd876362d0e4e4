/**
 * Test-process name resolution for the Azure doubles: `login.microsoftonline.com` and `*.vault.azure.net`
 * resolve to 127.0.0.1 (test/stack/azure), `*.azurecr.io` to the stack address (test/stack/acr: the
 * registry's data plane, where the node's containerd reaches it too), every other name as usual. Loaded with
 * `node --import` into the processes that talk to the doubles (the rotator CLI under test, vitest workers),
 * so the product runs unchanged: real host names, the SDK's challenge-resource verification on, MSAL's
 * built-in metadata for the public cloud.
 */
import dns from 'node:dns';

const ADDRESSES: [RegExp, string][] = [
  [/^(login\.microsoftonline\.com|[a-z0-9-]+\.vault\.azure\.net)$/i, '127.0.0.1'],
  [/^[a-z0-9]+\.azurecr\.io$/i, process.env['REGCRED_STACK_IP'] ?? '10.213.0.1'],
];
type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

const original = dns.lookup.bind(dns) as (...args: unknown[]) => void;
function lookup(hostname: string, options: unknown, callback?: LookupCallback): void {
  const cb = (typeof options === 'function' ? options : callback) as LookupCallback;
  const address = ADDRESSES.find(([re]) => re.test(hostname))?.[1];
  if (address === undefined) {
    original(hostname, options, callback);
    return;
  }
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  process.nextTick(() => (all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)));
}
(dns as { lookup: unknown }).lookup = lookup;
