import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** PEM file paths of one certificate. */
export interface TestCert {
  cert: string;
  key: string;
}

/** A throwaway PKI, made with the openssl CLI in a temporary folder. */
export interface TestPki {
  dir: string;
  /** The CA's certificate (trust anchor). */
  ca: string;
  /** Issues a certificate signed by this CA for `cn`; servers get SANs for 127.0.0.1 and localhost. */
  issue(name: string, cn: string, o?: { server?: boolean; startDate?: string; endDate?: string }): TestCert;
  remove(): void;
}

/** Whether the openssl CLI is there; under CI=true its absence fails the test (never a silent skip). */
export function requireOpenssl(ctx: Mocha.Context): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    if (process.env.CI === 'true') throw new Error('the openssl CLI is missing (CI installs it: .ci/run)');
    ctx.skip();
  }
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA (P-256 keys: fast to make) able to issue server and client certificates, expired ones included. */
export function createTestPki(label = 'pki'): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tcc-${label}-`));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', `/CN=${label} test CA`, '-days', '2'], dir);
  fs.writeFileSync(path.join(dir, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'serial'), '1000\n');
  fs.mkdirSync(path.join(dir, 'issued'));
  fs.writeFileSync(
    path.join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      `dir = ${dir}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir/issued',
      'serial = $dir/serial',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'copy_extensions = copy',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  return {
    dir,
    ca: path.join(dir, 'ca.pem'),
    issue(name, cn, o = {}) {
      const key = path.join(dir, `${name}.key`);
      const cert = path.join(dir, `${name}.pem`);
      const csr = path.join(dir, `${name}.csr`);
      const ext = o.server ? 'subjectAltName=IP:127.0.0.1,DNS:localhost' : 'extendedKeyUsage=clientAuth';
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`, '-addext', ext], dir);
      const dates = o.startDate && o.endDate ? ['-startdate', o.startDate, '-enddate', o.endDate] : ['-days', '2'];
      openssl(['ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', csr, '-out', cert, ...dates], dir);
      return { cert, key };
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
