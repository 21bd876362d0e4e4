import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import * as der from './der.ts';

/** A certificate with its private key, both PEM. */
export interface KeyPair {
  certPem: string;
  keyPem: string;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};
const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 };

const name = (cn: string) => der.sequence(der.set(der.sequence(der.oid(OID.commonName), der.utf8String(cn))));
const extension = (id: string, critical: boolean, value: Buffer) =>
  der.sequence(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
const sigAlg = der.sequence(der.oid(OID.ecdsaWithSha256));

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyId(spki: Buffer): Buffer {
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }: the key is its last
  // element; for the P-256 keys made here the bit string is the last 66 bytes (tag, length, 0, 65-byte point).
  return createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
}

function sanEntry(host: string): Buffer {
  if (isIP(host) === 4) return der.implicit(7, Buffer.from(host.split('.').map(Number)));
  if (isIP(host) === 6) {
    const u = new URL(`http://[${host}]/`).hostname.slice(1, -1); // normalised: groups, "::" expanded below
    const [head, tail] = u.includes('::') ? u.split('::') : [u, undefined];
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return der.implicit(7, Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 255])));
  }
  return der.implicit(2, Buffer.from(host, 'ascii'));
}

interface Spec {
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  issuerSpki: Buffer;
  signingKey: KeyObject;
  ca: boolean;
  hosts: readonly string[];
}

function build(s: Spec): string {
  const serial = randomBytes(16);
  serial.writeUInt8(serial.readUInt8(0) & 0x7f, 0); // positive
  const exts = [
    extension(
      OID.basicConstraints,
      true,
      s.ca ? der.sequence(der.boolean(true), der.smallInteger(0)) : der.sequence(),
    ),
    extension(
      OID.keyUsage,
      true,
      der.namedBits(
        s.ca
          ? [KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]
          : [KEY_USAGE.digitalSignature],
      ),
    ),
    extension(OID.subjectKeyId, false, der.octetString(keyId(s.spki))),
    extension(OID.authorityKeyId, false, der.sequence(der.implicit(0, keyId(s.issuerSpki)))),
  ];
  if (!s.ca)
    exts.push(
      extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, der.sequence(...s.hosts.map(sanEntry))),
    );
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)),
    der.unsignedInteger(serial),
    sigAlg,
    name(s.issuer),
    der.sequence(der.time(s.notBefore), der.time(s.notAfter)),
    name(s.subject),
    s.spki,
    der.explicit(3, der.sequence(...exts)),
  );
  const signature = sign('sha256', tbs, s.signingKey); // ECDSA: DER-encoded (r, s), as X.509 wants it
  const cert = der.sequence(tbs, sigAlg, der.bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${cert
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

const newKey = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spkiOf = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/**
 * A new CA and a serving certificate it signed for `hosts` (DNS names or IP addresses), both ECDSA P-256.
 * The CA's private key is not returned: it signs this one certificate and is gone, so nothing can mint
 * another certificate the webhook configuration trusts (the next renewal makes a new CA). Each
 * certificate is parsed and checked by OpenSSL before it is returned; a certificate that does not check
 * out is an error, never served.
 */
export function issueServing(
  hosts: readonly string[],
  v: Validity,
  label: string,
): KeyPair & { caPem: string } {
  const [subject] = hosts;
  if (subject === undefined) throw new Error('a serving certificate needs at least one host');
  const ca = newKey();
  const leaf = newKey();
  const caName = `regcred-rotator webhook CA ${label}`;
  const caPem = build({
    subject: caName,
    issuer: caName,
    ...v,
    spki: spkiOf(ca.publicKey),
    issuerSpki: spkiOf(ca.publicKey),
    signingKey: ca.privateKey,
    ca: true,
    hosts: [],
  });
  const certPem = build({
    subject,
    issuer: caName,
    ...v,
    spki: spkiOf(leaf.publicKey),
    issuerSpki: spkiOf(ca.publicKey),
    signingKey: ca.privateKey,
    ca: false,
    hosts,
  });
  check(caPem, certPem, hosts);
  return { caPem, certPem, keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** What OpenSSL makes of them: the CA signed the certificate, which names every host. */
function check(caPem: string, certPem: string, hosts: readonly string[]): void {
  const ca = new X509Certificate(caPem);
  const cert = new X509Certificate(certPem);
  if (!ca.ca || !ca.verify(ca.publicKey)) throw new Error('generated CA certificate does not verify');
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    throw new Error('generated serving certificate does not verify against its CA');
  for (const h of hosts) {
    const ok = isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h) !== undefined;
    if (!ok) throw new Error(`generated serving certificate does not name ${h}`);
  }
}
