import * as os from 'node:os';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../src/config/config';

function expectConfigError(env: NodeJS.ProcessEnv, variable: string): ConfigError {
  let thrown: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `loadConfig(${JSON.stringify(env)}) should throw`).to.be.instanceOf(ConfigError);
  const err = thrown as ConfigError;
  expect(err.variable).to.equal(variable);
  expect(err.message).to.contain(variable);
  expect(err.name).to.equal('ConfigError');
  return err;
}

describe('config: loadConfig', function () {
  it('uses the documented defaults when nothing is set', function () {
    const c = loadConfig({});
    expect(c).to.deep.equal({
      grpcAddr: '127.0.0.1:50051',
      dbUrl: 'sqlite:./data/tcc.sqlite',
      redisUrl: undefined,
      adminToken: undefined,
      logLevel: 'info',
      defaultTimeoutMs: 60_000,
      maxTimeoutMs: 3_600_000,
      branchTimeoutMs: 5_000,
      maxPayloadBytes: 65_536,
      maxBranches: 64,
      retryInitialMs: 1_000,
      retryMaxMs: 300_000,
      sweepIntervalMs: 1_000,
      maxWaitMs: 30_000,
      shutdownGraceMs: 10_000,
      nodeId: `${os.hostname()}-${process.pid}`,
      stuckAfterAttempts: 10,
      stuckAfterMs: 600_000,
      alertWebhookUrl: undefined,
      recoveryConcurrencyPerTarget: 256,
      retentionMs: 604_800_000,
      retentionIntervalMs: 600_000,
      retentionBatch: 500,
      metricsAddr: undefined,
      metricsParticipants: [],
      metricsMaxParticipants: 50,
      metricsCacheMs: 5_000,
      healthCheckIntervalMs: 2_000,
      tracing: undefined,
      storeQueueMax: 10_000,
      finalWriteDelayMs: 20,
      dbStatementTimeoutMs: 30_000,
      dbInitialize: false,
      grpcMaxConnections: 1_000,
      grpcMaxConcurrentStreams: 100,
      grpcHandshakeTimeoutMs: 10_000,
      grpcIdleTimeoutMs: 300_000,
      grpcMaxConnectionAgeMs: 1_800_000,
      grpcMaxConnectionAgeGraceMs: 60_000,
      grpcKeepaliveTimeMs: 60_000,
      tlsCert: undefined,
      tlsKey: undefined,
      tlsClientCa: undefined,
      participantTlsCa: undefined,
      participantTlsCert: undefined,
      participantTlsKey: undefined,
      participantTransport: 'stream',
      participantAllowlist: undefined,
      allowUnauthenticatedAdmin: false,
      clientAuth: [],
      clientTokens: new Map(),
      crashAt: undefined,
    });
  });

  it('tracing: off by default, on with an OTLP endpoint, off again with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none', function () {
    expect(loadConfig({}).tracing).to.equal(undefined);
    expect(loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom', OTEL_SERVICE_NAME: 'tcc-eu' }).tracing).to.deep.equal({
      endpoint: 'http://c:4318/custom',
      serviceName: 'tcc-eu',
    });
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).tracing).to.equal(undefined);
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' }).tracing).to.equal(undefined);
  });

  it('treats empty and blank values as unset', function () {
    const c = loadConfig({ TCC_GRPC_ADDR: '', TCC_DB_URL: '   ', TCC_REDIS_URL: '', TCC_ADMIN_TOKEN: ' ' });
    expect(c.grpcAddr).to.equal('127.0.0.1:50051');
    expect(c.dbUrl).to.equal('sqlite:./data/tcc.sqlite');
    expect(c.redisUrl).to.equal(undefined);
    expect(c.adminToken).to.equal(undefined);
  });

  it('reads every variable it is given', function () {
    const c = loadConfig({
      TCC_GRPC_ADDR: '0.0.0.0:0',
      TCC_DB_URL: 'mysql://tcc:secret@db.example:3306/tcc',
      TCC_REDIS_URL: 'redis://127.0.0.1:6379/2',
      TCC_ADMIN_TOKEN: '0123456789abcdef',
      TCC_LOG_LEVEL: 'silent',
      TCC_DEFAULT_TIMEOUT_MS: '1500',
      TCC_MAX_TIMEOUT_MS: '2000',
      TCC_BRANCH_TIMEOUT_MS: '250',
      TCC_MAX_PAYLOAD_BYTES: '1024',
      TCC_MAX_BRANCHES: '3',
      TCC_RETRY_INITIAL_MS: '50',
      TCC_RETRY_MAX_MS: '200',
      TCC_SWEEP_INTERVAL_MS: '100',
      TCC_MAX_WAIT_MS: '5000',
      TCC_SHUTDOWN_GRACE_MS: '0',
      TCC_NODE_ID: 'node-a.1',
      TCC_STUCK_AFTER_ATTEMPTS: '3',
      TCC_STUCK_AFTER_MS: '0',
      TCC_ALERT_WEBHOOK_URL: 'https://alerts.example/tcc',
      TCC_RECOVERY_CONCURRENCY_PER_TARGET: '2',
      TCC_RETENTION_MS: '86400000',
      TCC_RETENTION_INTERVAL_MS: '60000',
      TCC_RETENTION_BATCH: '100',
      TCC_METRICS_ADDR: '127.0.0.1:9464',
      TCC_METRICS_PARTICIPANTS: 'account:50061, inventory:50062',
      TCC_METRICS_MAX_PARTICIPANTS: '20',
      TCC_METRICS_CACHE_MS: '1000',
      TCC_HEALTH_CHECK_INTERVAL_MS: '500',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/',
      TCC_STORE_QUEUE_MAX: '500',
      TCC_FINAL_WRITE_DELAY_MS: '0',
      TCC_DB_STATEMENT_TIMEOUT_MS: '2500',
      TCC_DB_INITIALIZE: 'true',
      TCC_FAULT_CRASH_AT: 'after-decision',
      TCC_PARTICIPANT_TRANSPORT: 'unary',
    });
    expect(c).to.deep.equal({
      grpcAddr: '0.0.0.0:0',
      dbUrl: 'mysql://tcc:secret@db.example:3306/tcc',
      redisUrl: 'redis://127.0.0.1:6379/2',
      adminToken: '0123456789abcdef',
      logLevel: 'silent',
      defaultTimeoutMs: 1500,
      maxTimeoutMs: 2000,
      branchTimeoutMs: 250,
      maxPayloadBytes: 1024,
      maxBranches: 3,
      retryInitialMs: 50,
      retryMaxMs: 200,
      sweepIntervalMs: 100,
      maxWaitMs: 5000,
      shutdownGraceMs: 0,
      nodeId: 'node-a.1',
      stuckAfterAttempts: 3,
      stuckAfterMs: 0,
      alertWebhookUrl: 'https://alerts.example/tcc',
      recoveryConcurrencyPerTarget: 2,
      retentionMs: 86_400_000,
      retentionIntervalMs: 60_000,
      retentionBatch: 100,
      metricsAddr: '127.0.0.1:9464',
      metricsParticipants: ['account:50061', 'inventory:50062'],
      metricsMaxParticipants: 20,
      metricsCacheMs: 1_000,
      healthCheckIntervalMs: 500,
      tracing: { endpoint: 'http://127.0.0.1:4318/v1/traces', serviceName: 'tcc-coordinator' },
      storeQueueMax: 500,
      finalWriteDelayMs: 0,
      dbStatementTimeoutMs: 2500,
      dbInitialize: true,
      grpcMaxConnections: 1_000,
      grpcMaxConcurrentStreams: 100,
      grpcHandshakeTimeoutMs: 10_000,
      grpcIdleTimeoutMs: 300_000,
      grpcMaxConnectionAgeMs: 1_800_000,
      grpcMaxConnectionAgeGraceMs: 60_000,
      grpcKeepaliveTimeMs: 60_000,
      tlsCert: undefined,
      tlsKey: undefined,
      tlsClientCa: undefined,
      participantTlsCa: undefined,
      participantTlsCert: undefined,
      participantTlsKey: undefined,
      participantTransport: 'unary',
      participantAllowlist: undefined,
      allowUnauthenticatedAdmin: false,
      clientAuth: [],
      clientTokens: new Map(),
      crashAt: 'after-decision',
    });
  });

  it('accepts sqlite file URLs, mariadb:// URLs, IPv6 listen addresses and rediss://', function () {
    expect(loadConfig({ TCC_DB_URL: 'sqlite:/tmp/x.sqlite' }).dbUrl).to.equal('sqlite:/tmp/x.sqlite');
    expect(loadConfig({ TCC_DB_URL: 'sqlite:///tmp/x.sqlite' }).dbUrl).to.equal('sqlite:///tmp/x.sqlite');
    expect(loadConfig({ TCC_DB_URL: 'mariadb://root@127.0.0.1:3306/tcc' }).dbUrl).to.equal('mariadb://root@127.0.0.1:3306/tcc');
    expect(loadConfig({ TCC_GRPC_ADDR: '[::1]:7000' }).grpcAddr).to.equal('[::1]:7000');
    expect(loadConfig({ TCC_REDIS_URL: 'rediss://cache:6380' }).redisUrl).to.equal('rediss://cache:6380');
  });

  it('caps the default timeout at a smaller TCC_MAX_TIMEOUT_MS', function () {
    const c = loadConfig({ TCC_MAX_TIMEOUT_MS: '5000' });
    expect(c.maxTimeoutMs).to.equal(5000);
    expect(c.defaultTimeoutMs).to.equal(5000);
  });

  describe('rejects bad values with a ConfigError naming the variable', function () {
    const cases: Array<[string, NodeJS.ProcessEnv, string]> = [
      ['TCC_GRPC_ADDR "nope"', { TCC_GRPC_ADDR: 'nope' }, 'TCC_GRPC_ADDR'],
      ['TCC_GRPC_ADDR with port 70000', { TCC_GRPC_ADDR: '127.0.0.1:70000' }, 'TCC_GRPC_ADDR'],
      ['TCC_DB_URL "postgres://x"', { TCC_DB_URL: 'postgres://x' }, 'TCC_DB_URL'],
      ['TCC_DB_URL "sqlite:"', { TCC_DB_URL: 'sqlite:' }, 'TCC_DB_URL'],
      ['TCC_DB_URL "sqlite::memory:"', { TCC_DB_URL: 'sqlite::memory:' }, 'TCC_DB_URL'],
      ['TCC_DB_URL mysql without a database', { TCC_DB_URL: 'mysql://root@127.0.0.1:3306' }, 'TCC_DB_URL'],
      ['TCC_DEFAULT_TIMEOUT_MS "abc"', { TCC_DEFAULT_TIMEOUT_MS: 'abc' }, 'TCC_DEFAULT_TIMEOUT_MS'],
      ['TCC_DEFAULT_TIMEOUT_MS "-1"', { TCC_DEFAULT_TIMEOUT_MS: '-1' }, 'TCC_DEFAULT_TIMEOUT_MS'],
      ['TCC_DEFAULT_TIMEOUT_MS "1.5"', { TCC_DEFAULT_TIMEOUT_MS: '1.5' }, 'TCC_DEFAULT_TIMEOUT_MS'],
      ['TCC_DEFAULT_TIMEOUT_MS above the default max', { TCC_DEFAULT_TIMEOUT_MS: '3600001' }, 'TCC_DEFAULT_TIMEOUT_MS'],
      [
        'TCC_DEFAULT_TIMEOUT_MS above a configured max',
        { TCC_MAX_TIMEOUT_MS: '5000', TCC_DEFAULT_TIMEOUT_MS: '5001' },
        'TCC_DEFAULT_TIMEOUT_MS',
      ],
      ['TCC_MAX_TIMEOUT_MS "0"', { TCC_MAX_TIMEOUT_MS: '0' }, 'TCC_MAX_TIMEOUT_MS'],
      ['TCC_BRANCH_TIMEOUT_MS "abc"', { TCC_BRANCH_TIMEOUT_MS: 'abc' }, 'TCC_BRANCH_TIMEOUT_MS'],
      ['TCC_PARTICIPANT_TRANSPORT "grpc"', { TCC_PARTICIPANT_TRANSPORT: 'grpc' }, 'TCC_PARTICIPANT_TRANSPORT'],
      ['TCC_MAX_BRANCHES "0"', { TCC_MAX_BRANCHES: '0' }, 'TCC_MAX_BRANCHES'],
      ['TCC_MAX_PAYLOAD_BYTES "-5"', { TCC_MAX_PAYLOAD_BYTES: '-5' }, 'TCC_MAX_PAYLOAD_BYTES'],
      [
        'TCC_RETRY_MAX_MS below TCC_RETRY_INITIAL_MS',
        { TCC_RETRY_INITIAL_MS: '500', TCC_RETRY_MAX_MS: '100' },
        'TCC_RETRY_MAX_MS',
      ],
      ['TCC_SWEEP_INTERVAL_MS "5"', { TCC_SWEEP_INTERVAL_MS: '5' }, 'TCC_SWEEP_INTERVAL_MS'],
      ['TCC_MAX_WAIT_MS "soon"', { TCC_MAX_WAIT_MS: 'soon' }, 'TCC_MAX_WAIT_MS'],
      ['TCC_SHUTDOWN_GRACE_MS "-1"', { TCC_SHUTDOWN_GRACE_MS: '-1' }, 'TCC_SHUTDOWN_GRACE_MS'],
      ['TCC_LOG_LEVEL "loud"', { TCC_LOG_LEVEL: 'loud' }, 'TCC_LOG_LEVEL'],
      ['TCC_REDIS_URL "http://x"', { TCC_REDIS_URL: 'http://x' }, 'TCC_REDIS_URL'],
      ['TCC_ADMIN_TOKEN shorter than 16 characters', { TCC_ADMIN_TOKEN: 'short' }, 'TCC_ADMIN_TOKEN'],
      ['TCC_NODE_ID with a space', { TCC_NODE_ID: 'node a' }, 'TCC_NODE_ID'],
      ['TCC_STUCK_AFTER_ATTEMPTS "0"', { TCC_STUCK_AFTER_ATTEMPTS: '0' }, 'TCC_STUCK_AFTER_ATTEMPTS'],
      ['TCC_STUCK_AFTER_MS "ten"', { TCC_STUCK_AFTER_MS: 'ten' }, 'TCC_STUCK_AFTER_MS'],
      ['TCC_ALERT_WEBHOOK_URL "ftp://x"', { TCC_ALERT_WEBHOOK_URL: 'ftp://x' }, 'TCC_ALERT_WEBHOOK_URL'],
      ['TCC_ALERT_WEBHOOK_URL not a URL', { TCC_ALERT_WEBHOOK_URL: 'alerts' }, 'TCC_ALERT_WEBHOOK_URL'],
      ['TCC_RECOVERY_CONCURRENCY_PER_TARGET "0"', { TCC_RECOVERY_CONCURRENCY_PER_TARGET: '0' }, 'TCC_RECOVERY_CONCURRENCY_PER_TARGET'],
      ['TCC_RETENTION_MS between 0 and 1000', { TCC_RETENTION_MS: '500' }, 'TCC_RETENTION_MS'],
      ['TCC_RETENTION_INTERVAL_MS "10"', { TCC_RETENTION_INTERVAL_MS: '10' }, 'TCC_RETENTION_INTERVAL_MS'],
      ['TCC_RETENTION_BATCH "0"', { TCC_RETENTION_BATCH: '0' }, 'TCC_RETENTION_BATCH'],
      ['TCC_METRICS_ADDR "9464"', { TCC_METRICS_ADDR: '9464' }, 'TCC_METRICS_ADDR'],
      ['TCC_METRICS_PARTICIPANTS with a space in a target', { TCC_METRICS_PARTICIPANTS: 'a b:1' }, 'TCC_METRICS_PARTICIPANTS'],
      ['TCC_METRICS_MAX_PARTICIPANTS "0"', { TCC_METRICS_MAX_PARTICIPANTS: '0' }, 'TCC_METRICS_MAX_PARTICIPANTS'],
      ['TCC_HEALTH_CHECK_INTERVAL_MS "10"', { TCC_HEALTH_CHECK_INTERVAL_MS: '10' }, 'TCC_HEALTH_CHECK_INTERVAL_MS'],
      ['OTEL_EXPORTER_OTLP_ENDPOINT "collector:4318"', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
      ['OTEL_TRACES_EXPORTER "jaeger"', { OTEL_TRACES_EXPORTER: 'jaeger' }, 'OTEL_TRACES_EXPORTER'],
      ['TCC_FINAL_WRITE_DELAY_MS "-1"', { TCC_FINAL_WRITE_DELAY_MS: '-1' }, 'TCC_FINAL_WRITE_DELAY_MS'],
      ['TCC_STORE_QUEUE_MAX below TCC_MAX_BRANCHES + 1', { TCC_MAX_BRANCHES: '100', TCC_STORE_QUEUE_MAX: '100' }, 'TCC_STORE_QUEUE_MAX'],
      ['TCC_DB_STATEMENT_TIMEOUT_MS "50"', { TCC_DB_STATEMENT_TIMEOUT_MS: '50' }, 'TCC_DB_STATEMENT_TIMEOUT_MS'],
      ['TCC_DB_INITIALIZE "yes"', { TCC_DB_INITIALIZE: 'yes' }, 'TCC_DB_INITIALIZE'],
      ['TCC_FAULT_CRASH_AT "somewhere"', { TCC_FAULT_CRASH_AT: 'somewhere' }, 'TCC_FAULT_CRASH_AT'],
    ];
    for (const [title, env, variable] of cases) {
      it(title, function () {
        expectConfigError(env, variable);
      });
    }
  });
});
