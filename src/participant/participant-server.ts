import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { loadTccProto } from '../protocol/tcc-proto';
import { limitRequests, strictlyDecoding } from '../server/request-limits';
import { refusalInterceptor } from '../server/refusal-interceptor';
import { ReloadableCertificates } from '../tls/reloadable-certificates';
import { createServerTlsCredentials } from '../tls/tls-credentials';
import { createParticipantService, type ParticipantServiceOptions } from './participant-service';

/** Options of {@link ParticipantServer}: the service's options plus the server's own. */
export interface ParticipantServerOptions<Tx> extends ParticipantServiceOptions<Tx> {
  /**
   * grpc-js server options, merged over the default
   * `{ 'grpc.max_receive_message_length': 5 MiB }`: above the coordinator's
   * largest allowed payload (4 MiB) plus the ids, because a request the server
   * cannot receive is answered RESOURCE_EXHAUSTED forever, and a Cancel that
   * never gets through leaves its branch stuck.
   */
  serverOptions?: grpc.ServerOptions;
  /** Default: insecure (plaintext), or TLS from {@link tls} when given. Not together with {@link tls}. */
  credentials?: grpc.ServerCredentials;
  /** Serve over TLS from PEM files, re-read by {@link ParticipantServer.reloadCertificates}. Default: none (plaintext). */
  tls?: ParticipantTlsOptions;
  /** Grace period of {@link ParticipantServer.shutdown} when called without one, ms. Default 10 000. */
  shutdownGraceMs?: number;
}

/** TLS of a participant server. */
export interface ParticipantTlsOptions {
  /** PEM certificate chain of the server. Required. */
  certFile: string;
  /** PEM private key of the certificate. Required. */
  keyFile: string;
  /** PEM CA bundle that verifies client certificates (the coordinator's). Default: none. */
  clientCaFile?: string;
  /**
   * Refuse callers without a certificate signed by `clientCaFile`, so only
   * the coordinator can call Try/Confirm/Cancel. Default false.
   */
  requireClientCert?: boolean;
}

/** Services reported by grpc.health.v1: '' is the whole server. */
export const PARTICIPANT_HEALTH_SERVICES: readonly string[] = ['', 'tcc.v1.Participant'];

const DEFAULT_MAX_RECEIVE_BYTES = 5 * 1024 * 1024;
const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/**
 * A grpc-js server with the tcc.v1.Participant service (built by
 * createParticipantHandlers) and grpc.health.v1: SERVING once listening,
 * NOT_SERVING from the start of shutdown.
 *
 * @example
 * const server = new ParticipantServer({ barrier: new SqlBarrier(knex), actions: { debit } });
 * const address = await server.listen('0.0.0.0:50061');
 * process.on('SIGTERM', () => void server.shutdown());
 */
export class ParticipantServer<Tx = unknown> {
  /** The underlying grpc-js server, e.g. to add reflection or another service before {@link listen}. */
  readonly grpcServer: grpc.Server;
  private readonly health: HealthImplementation;
  private readonly credentials: grpc.ServerCredentials;
  private readonly certificates: ReloadableCertificates | undefined;
  private readonly defaultGraceMs: number;
  private bound: string | undefined;
  private listening: Promise<string> | undefined;
  private closing: Promise<void> | undefined;
  private readonly drainStreams: () => void;

  constructor(options: ParticipantServerOptions<Tx>) {
    // Built first: bad options throw before any resource exists.
    const { handlers, drainStreams } = createParticipantService(options);
    this.drainStreams = drainStreams;
    if (options.tls && options.credentials) throw new Error('give either credentials or tls, not both');
    if (options.tls) {
      // Read and checked now: a bad or expired certificate fails here, never as a plaintext server.
      this.certificates = new ReloadableCertificates({
        certFile: options.tls.certFile,
        keyFile: options.tls.keyFile,
        caFile: options.tls.clientCaFile,
      });
      this.credentials = createServerTlsCredentials(this.certificates, { requireClientCert: options.tls.requireClientCert });
    } else {
      this.credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
    }
    this.defaultGraceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': DEFAULT_MAX_RECEIVE_BYTES,
      ...options.serverOptions,
      // A truncated or malformed request is refused INVALID_ARGUMENT (not INTERNAL, not decoded short) in every service.
      interceptors: [refusalInterceptor, ...(options.serverOptions?.interceptors ?? [])],
    });
    this.grpcServer.addService(limitRequests(loadTccProto().grpcObject.tcc.v1.Participant.service), handlers);
    // NOT_SERVING until bound, so a probe can never see SERVING before calls can be served.
    this.health = new HealthImplementation(
      Object.fromEntries(PARTICIPANT_HEALTH_SERVICES.map((s) => [s, 'NOT_SERVING' as const])),
    );
    this.health.addToServer(strictlyDecoding(this.grpcServer));
  }

  /** `host:port` actually bound (port 0 resolved), once {@link listen} has resolved. */
  get address(): string | undefined {
    return this.bound;
  }

  /**
   * Binds `address` (`host:port`, port 0 picks a free port; `[::1]:0` for
   * IPv6) and serves. Resolves with the bound `host:port`. A server listens
   * once: a second call returns the first call's promise.
   */
  listen(address: string): Promise<string> {
    if (this.closing) return Promise.reject(new Error('participant server is shut down'));
    this.listening ??= new Promise<number>((resolve, reject) => {
      this.grpcServer.bindAsync(address, this.credentials, (err, port) => (err ? reject(err) : resolve(port)));
    }).then((port) => {
      this.bound = `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
      // Shutdown may have started while binding: never turn a draining server back to SERVING.
      if (!this.closing) this.setHealth('SERVING');
      return this.bound;
    });
    return this.listening;
  }

  /**
   * Re-reads the `tls` files (e.g. on SIGHUP): new connections get the new
   * certificate, open ones and their calls are untouched. Throws
   * CertificateError, keeping the previous ones, when a file is bad. No-op without `tls`.
   */
  reloadCertificates(): void {
    this.certificates?.reload();
  }

  /**
   * Reports NOT_SERVING, stops accepting calls, lets in-flight calls finish
   * for up to `graceMs` (default: the `shutdownGraceMs` option, 10 000), then
   * cuts the rest (their callers see the call fail and retry later: the
   * barrier makes the retry safe). Calls streams end as soon as the calls
   * in flight on them are answered. Idempotent: later calls return the same promise.
   */
  shutdown(graceMs: number = this.defaultGraceMs): Promise<void> {
    this.closing ??= (async () => {
      this.setHealth('NOT_SERVING');
      // Calls streams stay open while the coordinator is busy: end each once its calls are answered, or the drain waits for them.
      this.drainStreams();
      // A bind in progress finishes first, so its port is closed with the rest.
      await this.listening?.catch(() => undefined);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.grpcServer.forceShutdown();
          resolve();
        }, graceMs);
        this.grpcServer.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    })();
    return this.closing;
  }

  private setHealth(status: 'SERVING' | 'NOT_SERVING'): void {
    for (const service of PARTICIPANT_HEALTH_SERVICES) this.health.setStatus(service, status);
  }
}

/** A {@link ParticipantServer}, not yet listening. */
export function createParticipantServer<Tx>(options: ParticipantServerOptions<Tx>): ParticipantServer<Tx> {
  return new ParticipantServer(options);
}
