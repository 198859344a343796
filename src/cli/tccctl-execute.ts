/** Runs a parsed tccctl command against the coordinator: the client's lifetime and the failure → exit code step. */
import { AdminApiClient } from './admin-client';
import { ReloadableCertificates } from '../tls/reloadable-certificates';
import { createChannelTlsCredentials } from '../tls/tls-credentials';
import type { TccctlCommand } from './tccctl-args';
import { runCommand } from './tccctl-commands';
import { errorLine, exitCodeFor } from './tccctl-errors';
import { EXIT } from './tccctl-exit-codes';
import type { TccctlSettings } from './tccctl-settings';

/** Output streams of a run (stdout, stderr). */
export interface RunStreams {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Resolves with the exit code; never rejects, never prints a stack trace. */
export async function executeCommand(command: TccctlCommand, settings: TccctlSettings, io: RunStreams): Promise<number> {
  let api: AdminApiClient;
  let credentials;
  try {
    credentials = settings.tls ? createChannelTlsCredentials(new ReloadableCertificates(settings.tls)) : undefined;
  } catch (e) {
    io.err(`tccctl: TLS: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.USAGE;
  }
  try {
    api = new AdminApiClient({ target: settings.addr, token: settings.token, callTimeoutMs: settings.timeoutMs, credentials });
  } catch (e) {
    // grpc-js refuses a target it cannot parse when the channel is made.
    io.err(`tccctl: --addr / TCC_ADDR "${settings.addr}" is not a usable gRPC target (${e instanceof Error ? e.message : String(e)})\n`);
    return EXIT.USAGE;
  }
  try {
    return await runCommand(command, { api, settings, out: io.out, err: io.err, now: Date.now });
  } catch (e) {
    io.err(`${errorLine(e, { addr: settings.addr, timeoutMs: settings.timeoutMs, tokenGiven: settings.token !== undefined })}\n`);
    return exitCodeFor(e);
  } finally {
    api.close();
  }
}
