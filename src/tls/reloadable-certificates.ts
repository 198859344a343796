import * as grpc from '@grpc/grpc-js';
import { readPemFiles, type PemFiles, type PemMaterial } from './pem-files';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * One TLS end's certificate, key and CA, read and checked at construction
 * (a bad file throws there: a clear start-up error) and again on
 * {@link reload}. grpc-js credentials built on it pick up a reload for new
 * handshakes; connections already open keep theirs, so no call in flight is
 * dropped.
 */
export class ReloadableCertificates implements CertificateProvider {
  private material: PemMaterial;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(readonly files: PemFiles) {
    this.material = readPemFiles(files);
  }

  /** Whether a certificate (and key) is configured, as opposed to a CA only. */
  get hasIdentity(): boolean {
    return this.material.cert !== undefined;
  }

  get hasCa(): boolean {
    return this.material.ca !== undefined;
  }

  /** The current certificate's expiry, epoch ms. */
  get notAfter(): number | undefined {
    return this.material.notAfter;
  }

  /**
   * Re-reads the files. On a problem it throws {@link CertificateError} and
   * keeps serving the previous certificates.
   */
  reload(): void {
    this.material = readPemFiles(this.files);
    for (const l of this.caListeners) l(this.caUpdate());
    for (const l of this.identityListeners) l(this.identityUpdate());
  }

  private caUpdate(): grpc.experimental.CaCertificateUpdate | null {
    return this.material.ca ? { caCertificate: this.material.ca } : null;
  }

  private identityUpdate(): grpc.experimental.IdentityCertificateUpdate | null {
    return this.material.cert && this.material.key ? { certificate: this.material.cert, privateKey: this.material.key } : null;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // Deferred, like grpc-js's own providers: its credentials register their watcher only after adding this listener.
    queueMicrotask(() => this.caListeners.has(listener) && listener(this.caUpdate()));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => this.identityListeners.has(listener) && listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
