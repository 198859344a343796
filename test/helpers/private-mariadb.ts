/**
 * A MariaDB server of the test's own (see chaos/private-mariadb.ts, shared
 * with `npm run chaos`): `requirePrivateMariadb` fails under CI=true when the
 * binaries are missing, and skips loudly otherwise.
 */
import { expect } from 'chai';
import { privateMariadbTools } from '../../chaos/private-mariadb';

export { startPrivateMariadb, privateMariadbTools, type PrivateMariadb } from '../../chaos/private-mariadb';

/** In a mocha hook/test: fails under CI=true without the tools, else skips loudly. */
export function requirePrivateMariadb(ctx: Mocha.Context): void {
  if (privateMariadbTools()) return;
  if (process.env.CI === 'true') expect.fail('mariadb-install-db / mariadbd not installed (Debian package mariadb-server)');
  console.warn('    mariadb-install-db / mariadbd not installed: SKIPPING (apt-get install mariadb-server)');
  ctx.skip();
}
