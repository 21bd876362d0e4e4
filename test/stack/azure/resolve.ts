/**
 * Test-process name resolution for the Azure double: `login.microsoftonline.com` and `*.vault.azure.net`
 * resolve to 127.0.0.1, every other name as usual. Loaded with `node --import` into the processes that talk
 * to the double (the rotator CLI under test, vitest workers), so the product runs unchanged: real host
 * names, the SDK's challenge-resource verification on, MSAL's built-in metadata for the public cloud.
 */
import dns from 'node:dns';

const LOOPBACK = /^(login\.microsoftonline\.com|[a-z0-9-]+\.vault\.azure\.net)$/i;
type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number,
) => void;

const original = dns.lookup.bind(dns) as (...args: unknown[]) => void;
function lookup(hostname: string, options: unknown, callback?: LookupCallback): void {
  const cb = (typeof options === 'function' ? options : callback) as LookupCallback;
  if (!LOOPBACK.test(hostname)) {
    original(hostname, options, callback);
    return;
  }
  const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
  process.nextTick(() => (all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)));
}
(dns as { lookup: unknown }).lookup = lookup;
