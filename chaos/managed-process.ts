/**
 * A node process of the chaos cluster (a coordinator replica or a
 * participant) that can be SIGKILLed, SIGSTOPped and started again with the
 * same command, environment and port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';

export interface ManagedProcessSpec {
  /** Name in progress lines and errors, e.g. `coordinator-1`. */
  name: string;
  /** Script run by this node binary. */
  script: string;
  args?: string[];
  env: Record<string, string>;
  /** `msg` of the JSON log line printed once the process serves. */
  readyMsg: string;
  /** Called with every child spawned (for cleanup on exit). */
  onSpawn: (child: ChildProcess) => void;
  /** Longest wait for the ready line, ms. Default 60 000 (a loaded 2-core machine). */
  startTimeoutMs?: number;
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Exits nobody asked for (the runner restarts the process, and reports the count). */
  unexpectedExits = 0;
  private expectingExit = false;
  private paused = false;

  constructor(private readonly spec: ManagedProcessSpec) {}

  get name(): string {
    return this.spec.name;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the process; resolves once its ready line was printed. */
  async start(): Promise<void> {
    if (this.running) return;
    const { spec } = this;
    const child = spawn(process.execPath, [spec.script, ...(spec.args ?? [])], {
      env: { PATH: process.env.PATH ?? '', ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.paused = false;
    this.expectingExit = false;
    spec.onSpawn(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4_000);
    });
    this.exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        if (!this.expectingExit) this.unexpectedExits++;
        resolve();
      }),
    );
    const timeoutMs = spec.startTimeoutMs ?? 60_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${spec.name} did not start in ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${spec.name} exited (${code ?? signal}) before serving; stderr: ${stderr}`));
      });
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        if (!line.includes(spec.readyMsg)) return;
        try {
          if ((JSON.parse(line) as { msg?: unknown }).msg !== spec.readyMsg) return;
        } catch {
          return;
        }
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Starts the process again if it exited without being asked to (a crash the run did not inject); returns whether it did. */
  async restartIfCrashed(): Promise<boolean> {
    if (this.child === undefined || this.running || this.expectingExit) return false;
    await this.start();
    return true;
  }

  /** SIGKILL (after SIGCONT, so a paused process dies too) and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.expectingExit = true;
    this.child!.kill('SIGCONT');
    this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGSTOP: the process holds its sockets and claims but runs nothing. */
  pause(): void {
    if (!this.running) return;
    this.paused = true;
    this.child!.kill('SIGSTOP');
  }

  resume(): void {
    if (!this.running || !this.paused) return;
    this.paused = false;
    this.child!.kill('SIGCONT');
  }
}
