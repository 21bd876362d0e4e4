import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as der from '../../../src/admission/der.ts';
import { issueServing } from '../../../src/admission/x509.ts';

const hex = (b: Buffer) => b.toString('hex');

describe('DER writer', () => {
  it.each([
    ['2.5.4.3', '0603550403'],
    ['1.2.840.10045.4.3.2', '06082a8648ce3d040302'],
    ['1.3.6.1.5.5.7.3.1', '06082b06010505070301'],
    ['2.5.29.17', '0603551d11'],
  ])('OID %s', (oid, want) => expect(hex(der.oid(oid))).toBe(want));

  it('INTEGER: minimal, positive', () => {
    expect(hex(der.unsignedInteger(Buffer.from([0, 0, 5])))).toBe('020105');
    expect(hex(der.unsignedInteger(Buffer.from([0x80])))).toBe('02020080');
    expect(hex(der.unsignedInteger(Buffer.from([0])))).toBe('020100');
    expect(hex(der.smallInteger(2))).toBe('020102');
  });

  it('lengths: short form below 128, long form above', () => {
    expect(hex(der.octetString(Buffer.alloc(127))).slice(0, 4)).toBe('047f');
    expect(hex(der.octetString(Buffer.alloc(128))).slice(0, 6)).toBe('048180');
    expect(hex(der.octetString(Buffer.alloc(300))).slice(0, 8)).toBe('0482012c');
  });

  it('named bits drop trailing zero bits (KeyUsage)', () => {
    expect(hex(der.namedBits([0]))).toBe('03020780'); // digitalSignature
    expect(hex(der.namedBits([0, 5, 6]))).toBe('03020186'); // + keyCertSign, cRLSign
  });

  it('times: UTCTime through 2049, GeneralizedTime from 2050', () => {
    expect(der.time(new Date('2026-12-07T08:09:10.999Z')).toString('latin1')).toBe('\x17\x0d261207080910Z');
    expect(der.time(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20500101000000Z');
  });

  it('refuses a malformed OID', () => expect(() => der.oid('1')).toThrow(/bad OID/));
});

describe('issueServing', () => {
  const v = { notBefore: new Date('2026-01-01T00:00:00Z'), notAfter: new Date('2026-04-01T00:00:00Z') };
  const hosts = ['regcred-rotator-webhook.regcred-rotator.svc', '10.213.0.1', 'fd00::1'];
  const r = issueServing(hosts, v, 'test');

  it('a CA and a serving certificate OpenSSL reads and verifies, for every host', () => {
    const ca = new X509Certificate(r.caPem);
    const cert = new X509Certificate(r.certPem);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost('regcred-rotator-webhook.regcred-rotator.svc')).toBeDefined();
    expect(cert.checkHost('other.regcred-rotator.svc')).toBeUndefined();
    expect(cert.checkIP('10.213.0.1')).toBeDefined();
    expect(cert.checkIP('fd00:0:0:0:0:0:0:1')).toBeDefined();
    expect(cert.subjectAltName).toBe(
      'DNS:regcred-rotator-webhook.regcred-rotator.svc, IP Address:10.213.0.1, IP Address:FD00:0:0:0:0:0:0:1',
    );
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(new Date(cert.validFrom).toISOString()).toBe(v.notBefore.toISOString());
    expect(new Date(cert.validTo).toISOString()).toBe(v.notAfter.toISOString());
    expect(cert.checkPrivateKey(createPrivateKey(r.keyPem))).toBe(true);
  });

  it('every issue is a new CA: another certificate does not verify against it', () => {
    const other = issueServing(hosts, v, 'other');
    expect(new X509Certificate(other.certPem).verify(new X509Certificate(r.caPem).publicKey)).toBe(false);
    expect(other.caPem).not.toBe(r.caPem);
  });

  it('refuses to issue for no host', () =>
    expect(() => issueServing([], v, 'x')).toThrow(/at least one host/));
});
