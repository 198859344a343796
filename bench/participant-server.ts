/**
 * Minimal tcc.v1.Participant for the benchmark: answers OK at once to Try,
 * Confirm and Cancel. Runs as its own process (spawned by bench/run.ts) so it
 * does not share an event loop with the coordinator or the load generator.
 *
 * The backlog scenario needs decided transactions whose Confirm cannot run.
 * The Confirm mode is set by BENCH_PARTICIPANT_CONFIRM at start and by a line
 * `confirm <mode>` on stdin:
 *   ok           answer OK (the default);
 *   unavailable  answer UNAVAILABLE (outcome unknown: the coordinator keeps the
 *                transaction CONFIRMING and retries with backoff);
 *   hang         answer nothing until the mode changes (a participant that
 *                stopped responding); switching to ok answers the held calls OK,
 *                to unavailable answers them UNAVAILABLE.
 * Try and Cancel always answer OK.
 *
 * stdout protocol (one JSON object per line):
 *   {"event":"listening","port":N,"pid":P}    once bound
 *   {"event":"confirm","mode":M,"released":N}  after each mode change
 *   {"event":"stopped","calls":{...}}          on SIGTERM/SIGINT or stdin EOF, then exit 0
 */
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import type { ParticipantHandlers } from '../src/generated/tcc/v1/Participant';
import { loadTccProto } from '../src/protocol/tcc-proto';

type ConfirmMode = 'ok' | 'unavailable' | 'hang';
const MODES: readonly string[] = ['ok', 'unavailable', 'hang'];

const calls = { Try: 0, Confirm: 0, Cancel: 0, ConfirmUnavailable: 0, ConfirmHeld: 0 };
const EMPTY = Buffer.alloc(0);
const UNAVAILABLE_MESSAGE = 'bench participant: Confirm switched off';
let confirmMode: ConfirmMode = MODES.includes(process.env.BENCH_PARTICIPANT_CONFIRM ?? '') ? (process.env.BENCH_PARTICIPANT_CONFIRM as ConfirmMode) : 'ok';
/** Confirms held in `hang` mode: each is answered by the mode it is released into. */
let held: (() => void)[] = [];

/** Answers one Confirm by the current mode: `answer(true)` is OK, `answer(false)` UNAVAILABLE. */
function confirm(answer: (ok: boolean) => void): void {
  if (confirmMode === 'hang') {
    calls.ConfirmHeld++;
    held.push(() => confirm(answer));
    return;
  }
  if (confirmMode === 'unavailable') calls.ConfirmUnavailable++;
  else calls.Confirm++;
  answer(confirmMode === 'ok');
}

function main(): void {
  const { grpcObject } = loadTccProto();
  const server = new grpc.Server();
  const handlers: ParticipantHandlers = {
    Try: (_call, cb) => {
      calls.Try++;
      cb(null, { result: EMPTY });
    },
    Confirm: (_call, cb) => {
      confirm((ok) => (ok ? cb(null, { result: EMPTY }) : cb({ code: grpc.status.UNAVAILABLE, details: UNAVAILABLE_MESSAGE })));
    },
    Cancel: (_call, cb) => {
      calls.Cancel++;
      cb(null, { result: EMPTY });
    },
    // The same answers on the multiplexed stream (the coordinator's default transport).
    Calls: (stream) => {
      stream.on('data', (msg: { call_id: string; phase: string }) => {
        if (msg.phase === 'CONFIRM') {
          confirm((ok) => {
            if (stream.writable) {
              stream.write({ call_id: msg.call_id, code: ok ? 0 : grpc.status.UNAVAILABLE, message: ok ? '' : UNAVAILABLE_MESSAGE, result: EMPTY });
            }
          });
          return;
        }
        if (msg.phase === 'TRY') calls.Try++;
        else calls.Cancel++;
        stream.write({ call_id: msg.call_id, code: 0, message: '', result: EMPTY });
      });
      stream.on('end', () => stream.end());
      stream.on('error', () => undefined);
    },
  };
  server.addService(grpcObject.tcc.v1.Participant.service, handlers);

  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.stdout.write(JSON.stringify({ event: 'stopped', calls }) + '\n', () => {
      server.forceShutdown();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent holds our stdin open; when it goes away (even by SIGKILL) we stop.
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const m = /^confirm (\S+)$/.exec(line.trim());
    if (!m || !MODES.includes(m[1])) return;
    confirmMode = m[1] as ConfirmMode;
    const release = confirmMode === 'hang' ? [] : held;
    if (confirmMode !== 'hang') held = [];
    for (const h of release) h();
    process.stdout.write(JSON.stringify({ event: 'confirm', mode: confirmMode, released: release.length }) + '\n');
  });
  process.stdin.resume();

  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`participant-server: bind failed: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(JSON.stringify({ event: 'listening', port, pid: process.pid }) + '\n');
  });
}

main();
