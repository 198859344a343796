import * as fs from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import * as tls from 'node:tls';
import { CertificateError } from './certificate-error';

/** PEM file paths of one TLS end. */
export interface PemFiles {
  /** Certificate chain (leaf first). Required together with {@link keyFile}. */
  certFile?: string;
  /** Private key of the certificate. */
  keyFile?: string;
  /** CA bundle that verifies the other end. */
  caFile?: string;
}

/** The files' contents, checked. */
export interface PemMaterial {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
  /** The leaf certificate's expiry, epoch ms. */
  notAfter?: number;
}

function read(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new CertificateError(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function parseCertificates(file: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new CertificateError(file, 'no PEM certificate in it');
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw new CertificateError(file, 'holds a certificate that does not parse');
    }
  });
}

function checkValidity(file: string, cert: X509Certificate, now: number): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now > to) throw new CertificateError(file, `certificate "${cert.subject.replace(/\n/g, ', ')}" expired on ${new Date(to).toISOString()}`);
  if (now < from) throw new CertificateError(file, `certificate "${cert.subject.replace(/\n/g, ', ')}" is not valid before ${new Date(from).toISOString()}`);
}

/**
 * Reads and checks PEM files: each parses, the leaf certificate is within its
 * validity period, the key belongs to it, and Node's TLS accepts the set. A
 * problem is a {@link CertificateError} naming the file, so a bad file stops
 * a start (or a reload) with a clear message instead of failing handshakes.
 */
export function readPemFiles(files: PemFiles, now: number = Date.now()): PemMaterial {
  if ((files.certFile === undefined) !== (files.keyFile === undefined)) {
    throw new CertificateError(files.certFile ?? files.keyFile ?? '', 'a certificate needs its key and a key its certificate');
  }
  const out: PemMaterial = {};
  if (files.certFile !== undefined && files.keyFile !== undefined) {
    const cert = read(files.certFile);
    const key = read(files.keyFile);
    const [leaf] = parseCertificates(files.certFile, cert);
    checkValidity(files.certFile, leaf, now);
    let keyObject: KeyObject;
    try {
      keyObject = createPrivateKey(key);
    } catch {
      throw new CertificateError(files.keyFile, 'no usable (unencrypted PEM) private key in it');
    }
    if (!leaf.checkPrivateKey(keyObject)) throw new CertificateError(files.keyFile, `is not the key of the certificate in ${files.certFile}`);
    out.cert = cert;
    out.key = key;
    out.notAfter = Date.parse(leaf.validTo);
  }
  if (files.caFile !== undefined) {
    const ca = read(files.caFile);
    for (const c of parseCertificates(files.caFile, ca)) checkValidity(files.caFile, c, now);
    out.ca = ca;
  }
  try {
    tls.createSecureContext({ cert: out.cert, key: out.key, ca: out.ca });
  } catch (err) {
    throw new CertificateError(files.certFile ?? files.caFile ?? '', `rejected by TLS: ${(err as Error).message}`);
  }
  return out;
}
