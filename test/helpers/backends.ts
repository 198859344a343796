/**
 * Storage backends for integration suites, a coordinator starter and a typed,
 * promisified Coordinator gRPC client.
 *
 * `forEachBackend(fn)` declares the suite `fn` once per backend:
 * - sqlite: a fresh temp file under os.tmpdir() per suite;
 * - mariadb: a fresh database tcc_test_<random> on 127.0.0.1:3306 (user root,
 *   no password), dropped afterwards. When MariaDB is unreachable the suite
 *   FAILS if CI=true, otherwise it is skipped loudly (console.warn + pending).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as mysql from 'mysql2/promise';
import { expect } from 'chai';
import { loadConfig } from '../../src/config/config';
import { startCoordinator, type RunningCoordinator } from '../../src/coordinator';
import { loadTccProto } from '../../src/protocol/tcc-proto';
import type { CoordinatorClient } from '../../src/generated/tcc/v1/Coordinator';
import type { BeginRequest } from '../../src/generated/tcc/v1/BeginRequest';
import type { BeginResponse__Output } from '../../src/generated/tcc/v1/BeginResponse';
import type { TryRequest } from '../../src/generated/tcc/v1/TryRequest';
import type { TryResponse__Output } from '../../src/generated/tcc/v1/TryResponse';
import type { FinishRequest } from '../../src/generated/tcc/v1/FinishRequest';
import type { ExecuteRequest } from '../../src/generated/tcc/v1/ExecuteRequest';
import type { GetTransactionRequest } from '../../src/generated/tcc/v1/GetTransactionRequest';
import type { Transaction__Output } from '../../src/generated/tcc/v1/Transaction';

export type BackendName = 'sqlite' | 'mariadb';

export interface Backend {
  readonly name: BackendName;
  /** TCC_DB_URL for this suite (valid once the suite's first before hook has run). */
  readonly url: string;
}

export const MARIADB_HOST = '127.0.0.1';
export const MARIADB_PORT = 3306;
export const MARIADB_USER = 'root';

function randomSuffix(): string {
  return `${Date.now().toString(36)}_${crypto.randomBytes(4).toString('hex')}`;
}

function describeSqlite(fn: (backend: Backend) => void): void {
  describe('[sqlite]', function () {
    let dir: string | undefined;
    const backend: { name: BackendName; url: string } = { name: 'sqlite', url: '' };

    before(function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-test-'));
      backend.url = `sqlite:${path.join(dir, 'tcc.sqlite')}`;
    });

    fn(backend);

    // Declared after fn's hooks, so it runs after the suite's coordinator has shut down.
    after(function () {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });
  });
}

function describeMariadb(fn: (backend: Backend) => void): void {
  describe('[mariadb]', function () {
    const database = `tcc_test_${randomSuffix()}`;
    const backend: { name: BackendName; url: string } = { name: 'mariadb', url: '' };
    let created = false;

    before(async function () {
      this.timeout(30_000);
      let conn: mysql.Connection | undefined;
      try {
        conn = await mysql.createConnection({
          host: MARIADB_HOST,
          port: MARIADB_PORT,
          user: MARIADB_USER,
          connectTimeout: 5_000,
        });
        await conn.query(`CREATE DATABASE \`${database}\``);
        created = true;
      } catch (err) {
        const why = err instanceof Error ? `${(err as { code?: string }).code ?? ''} ${err.message}`.trim() : String(err);
        if (process.env.CI === 'true') {
          throw new Error(
            `MariaDB tests cannot run: MariaDB at ${MARIADB_HOST}:${MARIADB_PORT} (user ${MARIADB_USER}, no password) ` +
              `is unreachable or refused CREATE DATABASE: ${why}. In CI (CI=true) MariaDB is required.`,
          );
        }
        console.warn(
          `\n  !!! MariaDB tests SKIPPED: MariaDB at ${MARIADB_HOST}:${MARIADB_PORT} (user ${MARIADB_USER}, no password) ` +
            `is unreachable or refused CREATE DATABASE (${why}).\n` +
            `  !!! Start MariaDB locally to run them; with CI=true this is a failure, not a skip.\n`,
        );
        this.skip();
      } finally {
        if (conn) await conn.end().catch(() => undefined);
      }
      backend.url = `mysql://${MARIADB_USER}@${MARIADB_HOST}:${MARIADB_PORT}/${database}`;
    });

    fn(backend);

    after(async function () {
      this.timeout(30_000);
      if (!created) return;
      const conn = await mysql.createConnection({
        host: MARIADB_HOST,
        port: MARIADB_PORT,
        user: MARIADB_USER,
        connectTimeout: 5_000,
      });
      try {
        await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
      } finally {
        await conn.end().catch(() => undefined);
      }
    });
  });
}

/** Declares the suite `fn` for MariaDB only (what several replicas share; SQLite is one process's file). */
export function onMariadb(fn: (backend: Backend) => void): void {
  describeMariadb(fn);
}

/** Declares the suite `fn` once for SQLite and once for MariaDB. */
export function forEachBackend(fn: (backend: Backend) => void): void {
  describeSqlite(fn);
  describeMariadb(fn);
}

/**
 * Starts a coordinator on 127.0.0.1:<free port> storing in `backend`, with
 * short timeouts and retries suited to tests; `envOverrides` win.
 */
export async function startTestCoordinator(
  backend: Backend,
  envOverrides: Record<string, string> = {},
): Promise<RunningCoordinator> {
  if (!backend.url) throw new Error(`backend ${backend.name} has no URL yet (its before hook has not run)`);
  const config = loadConfig({
    TCC_GRPC_ADDR: '127.0.0.1:0',
    TCC_DB_URL: backend.url,
    TCC_LOG_LEVEL: 'silent',
    TCC_RETRY_INITIAL_MS: '50',
    TCC_RETRY_MAX_MS: '200',
    TCC_BRANCH_TIMEOUT_MS: '1000',
    ...envOverrides,
  });
  return startCoordinator(config);
}

// ---------------------------------------------------------------------------
// Coordinator client

export interface CallOpts {
  /** Relative deadline of this call; default: the client's. */
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

/** Promisified Coordinator calls: resolve with the response or reject with the grpc.ServiceError. */
export interface TestCoordinatorClient {
  readonly raw: CoordinatorClient;
  begin(req: BeginRequest, opts?: CallOpts): Promise<BeginResponse__Output>;
  try(req: TryRequest, opts?: CallOpts): Promise<TryResponse__Output>;
  commit(req: FinishRequest, opts?: CallOpts): Promise<Transaction__Output>;
  rollback(req: FinishRequest, opts?: CallOpts): Promise<Transaction__Output>;
  execute(req: ExecuteRequest, opts?: CallOpts): Promise<Transaction__Output>;
  getTransaction(req: GetTransactionRequest, opts?: CallOpts): Promise<Transaction__Output>;
  close(): void;
}

type Invoke<T> = (md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<T>) => unknown;

/** A Coordinator client for `address`; every call carries a deadline (default 10 s). */
export function createCoordinatorClient(address: string, defaultDeadlineMs = 10_000): TestCoordinatorClient {
  const { grpcObject } = loadTccProto();
  const raw = new grpcObject.tcc.v1.Coordinator(address, grpc.credentials.createInsecure());

  function call<T>(name: string, invoke: Invoke<T>, opts: CallOpts = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deadline = Date.now() + (opts.deadlineMs ?? defaultDeadlineMs);
      invoke(opts.metadata ?? new grpc.Metadata(), { deadline }, (err, value) => {
        if (err) reject(err);
        else if (value === undefined) reject(new Error(`${name}: no error and no response`));
        else resolve(value);
      });
    });
  }

  return {
    raw,
    begin: (req, o) => call('Begin', (md, op, cb) => raw.Begin(req, md, op, cb), o),
    try: (req, o) => call('Try', (md, op, cb) => raw.Try(req, md, op, cb), o),
    commit: (req, o) => call('Commit', (md, op, cb) => raw.Commit(req, md, op, cb), o),
    rollback: (req, o) => call('Rollback', (md, op, cb) => raw.Rollback(req, md, op, cb), o),
    execute: (req, o) => call('Execute', (md, op, cb) => raw.Execute(req, md, op, cb), o),
    getTransaction: (req, o) => call('GetTransaction', (md, op, cb) => raw.GetTransaction(req, md, op, cb), o),
    close: () => raw.close(),
  };
}

// ---------------------------------------------------------------------------
// Assertions and polling

export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number';
}

export function codeName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? `code ${code}`;
}

/**
 * Asserts that `promise` rejects with a gRPC status among `codes`; returns the error.
 * Fails naming the outcome that happened instead.
 */
export async function expectGrpcError(
  promise: Promise<unknown>,
  codes: grpc.status | readonly grpc.status[],
  what = 'call',
): Promise<grpc.ServiceError> {
  const wanted = Array.isArray(codes) ? (codes as readonly grpc.status[]) : [codes as grpc.status];
  const wantedNames = wanted.map(codeName).join(' or ');
  let value: unknown;
  try {
    value = await promise;
  } catch (err) {
    if (!isServiceError(err)) throw new Error(`${what}: expected gRPC ${wantedNames}, got non-gRPC error ${String(err)}`);
    expect(
      wanted.includes(err.code),
      `${what}: expected gRPC ${wantedNames}, got ${codeName(err.code)}: ${err.details}`,
    ).to.equal(true);
    return err;
  }
  expect.fail(`${what}: expected gRPC ${wantedNames}, but it succeeded with ${JSON.stringify(value)}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls `fetch` every `intervalMs` until `accept` holds; returns that value.
 * After `timeoutMs` fails with `what` and the last value (or error) seen.
 */
export async function pollUntil<T>(
  fetch: () => Promise<T>,
  accept: (value: T) => boolean,
  what: string,
  timeoutMs = 5_000,
  intervalMs = 25,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: string = 'nothing yet';
  for (;;) {
    try {
      const v = await fetch();
      if (accept(v)) return v;
      last = JSON.stringify(v, (_k, val: unknown) =>
        val && typeof val === 'object' && (val as { type?: string }).type === 'Buffer' ? '<bytes>' : val,
      );
    } catch (err) {
      last = isServiceError(err) ? `gRPC ${codeName(err.code)}: ${err.details}` : String(err);
    }
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${last}`);
    await sleep(intervalMs);
  }
}
