/** tccctl's settings: command-line flags over environment variables over defaults. */
import * as os from 'node:os';
import { UsageError } from './tccctl-exit-codes';

/** Default of {@link TccctlSettings.addr}. */
export const DEFAULT_ADDR = '127.0.0.1:50051';
/** Default of {@link TccctlSettings.timeoutMs}. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Largest `--timeout`: a typo must not turn into a command that hangs for days. */
export const MAX_TIMEOUT_MS = 3_600_000;

/** The environment variables tccctl reads, captured once at start. */
export interface TccctlEnvironment {
  /** TCC_ADDR. */
  addr?: string;
  /** TCC_ADMIN_TOKEN: the same variable the coordinator reads, so one export serves both on a dev machine. */
  token?: string;
  /** TCC_OPERATOR. */
  operator?: string;
  /** TCCCTL_TLS_CA, TCCCTL_TLS_CERT, TCCCTL_TLS_KEY. */
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** `$USER@hostname`, the operator when TCC_OPERATOR and --operator are not given. */
  defaultOperator: string;
}

/** Global flags as given on the command line (strings, unvalidated). */
export interface GlobalFlags {
  addr?: string;
  token?: string;
  'tls-ca'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  operator?: string;
  timeout?: string;
  json?: boolean;
}

/** Everything a tccctl command runs with, validated. */
export interface TccctlSettings {
  /** Coordinator gRPC target (`--addr`, TCC_ADDR). Default {@link DEFAULT_ADDR}. */
  addr: string;
  /** Admin bearer token (`--token`, TCC_ADMIN_TOKEN). Default: none. */
  token: string | undefined;
  /** Who is acting, recorded by Abort and ResolveBranch (`--operator`, TCC_OPERATOR). Default `$USER@hostname`. */
  operator: string;
  /** Deadline of each Admin call in ms (`--timeout`). Default {@link DEFAULT_TIMEOUT_MS}. */
  timeoutMs: number;
  /** Print JSON only on stdout (`--json`). Default false. */
  json: boolean;
  /** TLS to the coordinator (`--tls-ca/--tls-cert/--tls-key`, TCCCTL_TLS_*): PEM paths. Default: none (plaintext). */
  tls?: { caFile: string; certFile?: string; keyFile?: string };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Reads the environment once; nothing else in tccctl looks at process.env. */
export function readEnvironment(env: NodeJS.ProcessEnv): TccctlEnvironment {
  let user = nonEmpty(env.USER) ?? nonEmpty(env.LOGNAME) ?? nonEmpty(env.USERNAME);
  if (!user) {
    try {
      user = os.userInfo().username;
    } catch {
      // No passwd entry (some containers): the operator is still recorded, as unknown.
      user = 'unknown';
    }
  }
  return {
    addr: nonEmpty(env.TCC_ADDR),
    token: nonEmpty(env.TCC_ADMIN_TOKEN),
    operator: nonEmpty(env.TCC_OPERATOR),
    tlsCa: nonEmpty(env.TCCCTL_TLS_CA),
    tlsCert: nonEmpty(env.TCCCTL_TLS_CERT),
    tlsKey: nonEmpty(env.TCCCTL_TLS_KEY),
    defaultOperator: `${user}@${os.hostname()}`,
  };
}

/** Printable ASCII only: the token goes into a gRPC header, where anything else is refused or mangled. */
const TOKEN = /^[\x21-\x7e]+$/;

export function resolveSettings(flags: GlobalFlags, env: TccctlEnvironment): TccctlSettings {
  const addr = nonEmpty(flags.addr) ?? env.addr ?? DEFAULT_ADDR;
  if (/\s/.test(addr)) throw new UsageError(`--addr / TCC_ADDR must be a gRPC target like host:port, got "${addr}"`);

  const token = flags.token !== undefined ? nonEmpty(flags.token) : env.token;
  if (flags.token !== undefined && token === undefined) throw new UsageError('--token must not be empty');
  if (token !== undefined && !TOKEN.test(token)) throw new UsageError('the admin token must be printable ASCII without spaces');

  const operator = nonEmpty(flags.operator) ?? env.operator ?? env.defaultOperator;
  // The coordinator refuses these too; saying so here names the flag to fix.
  // eslint-disable-next-line no-control-regex
  if (operator.length > 128 || /[\x00-\x1f\x7f]/.test(operator)) {
    throw new UsageError('--operator / TCC_OPERATOR must be at most 128 printable characters');
  }

  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (flags.timeout !== undefined) {
    timeoutMs = Number(flags.timeout);
    if (!/^\d+$/.test(flags.timeout.trim()) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
      throw new UsageError(`--timeout must be a whole number of ms from 1 to ${MAX_TIMEOUT_MS}, got "${flags.timeout}"`);
    }
  }
  const caFile = nonEmpty(flags['tls-ca']) ?? env.tlsCa;
  const certFile = nonEmpty(flags['tls-cert']) ?? env.tlsCert;
  const keyFile = nonEmpty(flags['tls-key']) ?? env.tlsKey;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key (TCCCTL_TLS_CERT/KEY) go together');
  if (certFile !== undefined && caFile === undefined) throw new UsageError('--tls-cert needs --tls-ca (TCCCTL_TLS_CA): the CA that verifies the coordinator');
  const tls = caFile !== undefined ? { caFile, certFile, keyFile } : undefined;
  return { addr, token, operator, timeoutMs, json: flags.json ?? false, ...(tls ? { tls } : {}) };
}
