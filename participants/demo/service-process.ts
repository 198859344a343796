import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';

/** A service running as a child process of the demo. */
export interface ServiceProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the process has ended (never rejects). */
  readonly exited: Promise<void>;
  /** Whether it has ended. */
  hasExited(): boolean;
  /** Its last output lines (stdout and stderr), to show when something goes wrong. */
  recentOutput(): string[];
}

/** Options of {@link startServiceProcess}. */
export interface StartServiceOptions {
  /** Shown in messages: `coordinator`, `account`, ... */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The child's whole environment: nothing of the demo's own is passed on implicitly. */
  readonly env: NodeJS.ProcessEnv;
  /** The `msg` of the JSON log line that says it is serving; that line's `address` field is the bound address. */
  readonly readyMessage: string;
  /** Default 20 000. */
  readonly startTimeoutMs?: number;
  /** Called right after spawning, before it is ready: the demo registers the process for cleanup there. */
  readonly onSpawn: (service: ServiceProcess) => void;
}

const KEPT_LINES = 30;

/** Spawns a process and bookkeeps its output and exit. */
export function spawnTracked(
  name: string,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  onLine: (line: string) => void = () => undefined,
): ServiceProcess {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const recent: string[] = [];
  const keep = (line: string) => {
    recent.push(line);
    if (recent.length > KEPT_LINES) recent.shift();
  };
  let ended = false;
  // 'close' (not 'exit'): also waits for the output pipes, and fires after a spawn 'error' too.
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      ended = true;
      resolve();
    }),
  );
  child.on('error', (err) => keep(`[${name}] ${err.message}`));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    keep(line);
    onLine(line);
  });
  readline.createInterface({ input: child.stderr }).on('line', keep);
  return { name, child, exited, hasExited: () => ended, recentOutput: () => [...recent] };
}

/**
 * Starts a service and resolves with its bound address once it logs
 * `readyMessage`; rejects when it exits first or takes longer than the
 * timeout (it is left running: the caller's cleanup stops it).
 */
export function startServiceProcess(options: StartServiceOptions): Promise<{ service: ServiceProcess; address: string }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const service = spawnTracked(options.name, options.command, options.args, options.env, (line) => {
      if (settled || !line.startsWith('{')) return;
      let parsed: { msg?: unknown; address?: unknown };
      try {
        parsed = JSON.parse(line) as { msg?: unknown; address?: unknown };
      } catch {
        return;
      }
      if (parsed.msg === options.readyMessage && typeof parsed.address === 'string') {
        settled = true;
        clearTimeout(timer);
        resolve({ service, address: parsed.address });
      }
    });
    options.onSpawn(service);
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const output = service.recentOutput();
      reject(new Error(`${options.name} ${why}${output.length ? `; its last output:\n    ${output.join('\n    ')}` : ''}`));
    };
    const timer = setTimeout(() => fail(`did not start within ${options.startTimeoutMs ?? 20_000} ms`), options.startTimeoutMs ?? 20_000);
    void service.exited.then(() => fail(`exited before it was ready (exit code ${String(service.child.exitCode ?? service.child.signalCode)})`));
  });
}

/** SIGTERM, then SIGKILL if it has not ended after `graceMs`; resolves once it has ended. */
export async function stopServiceProcess(service: ServiceProcess, graceMs = 5_000): Promise<void> {
  if (service.hasExited() || service.child.pid === undefined) return;
  service.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      service.child.kill('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([service.exited, killed]);
  clearTimeout(timer);
  await service.exited;
}
