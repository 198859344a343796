import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

/** A coordinator running as its own process (`node dist/src/main.js`), to be killed for real. */
export interface CoordinatorProcess {
  readonly address: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Every JSON log line it printed. */
  readonly lines: Record<string, unknown>[];
  /** Every line it printed on stdout or stderr, as printed (JSON or not). */
  readonly output: string[];
}

const MAIN = path.resolve(__dirname, '..', '..', 'src', 'main.js');

/** How to run the process, beyond its environment. */
export interface SpawnOptions {
  /** A launcher the node command line is appended to, e.g. `['prlimit', '--fsize=1000000', '--']`. */
  launcher?: readonly string[];
  /** Run as this user and group (needs root), e.g. to meet file permissions root would ignore. */
  uid?: number;
  gid?: number;
}

/**
 * Spawns the coordinator with `env` (TCC_GRPC_ADDR defaults to 127.0.0.1:0)
 * and resolves once its "coordinator listening" line names the address.
 */
export function spawnCoordinator(env: Record<string, string>, startTimeoutMs = 20_000, options: SpawnOptions = {}): Promise<CoordinatorProcess> {
  const argv = [...(options.launcher ?? []), process.execPath, MAIN];
  const child = spawn(argv[0], argv.slice(1), {
    env: { PATH: process.env.PATH ?? '', TCC_GRPC_ADDR: '127.0.0.1:0', TCC_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid,
  });
  const lines: Record<string, unknown>[] = [];
  const output: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  readline.createInterface({ input: child.stderr }).on('line', (line) => output.push(line));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise<CoordinatorProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`coordinator did not start in ${startTimeoutMs} ms; stderr: ${stderr}`));
    }, startTimeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`coordinator exited (${code}) before listening; stderr: ${stderr}`));
    });
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      output.push(line);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      lines.push(parsed);
      if (parsed.msg === 'coordinator listening') {
        clearTimeout(timer);
        resolve({ address: String(parsed.address), child, exited, lines, output });
      }
    });
  });
}

/** SIGKILL: no handler runs, nothing is flushed or drained. */
export async function killHard(p: CoordinatorProcess): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}
