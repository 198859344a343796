/** A TLS certificate, key or CA file that cannot be used; the message names the file and what is wrong with it. */
export class CertificateError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'CertificateError';
  }
}
