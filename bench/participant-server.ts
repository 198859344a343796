/**
 * Minimal tcc.v1.Participant for the benchmark: answers OK at once to Try,
 * Confirm and Cancel. Runs as its own process (spawned by bench/run.ts) so it
 * does not share an event loop with the coordinator or the load generator.
 *
 * The backlog scenario needs decided transactions whose Confirm cannot run:
 * with BENCH_PARTICIPANT_CONFIRM=unavailable, or after the stdin line
 * `confirm unavailable`, Confirm answers UNAVAILABLE (outcome unknown: the
 * coordinator keeps the transaction CONFIRMING and retries); the line
 * `confirm ok` brings it back. Try and Cancel always answer OK.
 *
 * stdout protocol (one JSON object per line):
 *   {"event":"listening","port":N,"pid":P}    once bound
 *   {"event":"confirm","mode":"ok"|"unavailable"}  after each mode change
 *   {"event":"stopped","calls":{...}}          on SIGTERM/SIGINT or stdin EOF, then exit 0
 */
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import type { ParticipantHandlers } from '../src/generated/tcc/v1/Participant';
import { loadTccProto } from '../src/protocol/tcc-proto';

const calls = { Try: 0, Confirm: 0, Cancel: 0, ConfirmRefusedUnavailable: 0 };
const EMPTY = Buffer.alloc(0);
let confirmUnavailable = process.env.BENCH_PARTICIPANT_CONFIRM === 'unavailable';
const UNAVAILABLE_MESSAGE = 'bench participant: Confirm switched off';

function main(): void {
  const { grpcObject } = loadTccProto();
  const server = new grpc.Server();
  const handlers: ParticipantHandlers = {
    Try: (_call, cb) => {
      calls.Try++;
      cb(null, { result: EMPTY });
    },
    Confirm: (_call, cb) => {
      if (confirmUnavailable) {
        calls.ConfirmRefusedUnavailable++;
        cb({ code: grpc.status.UNAVAILABLE, details: UNAVAILABLE_MESSAGE });
        return;
      }
      calls.Confirm++;
      cb(null, { result: EMPTY });
    },
    Cancel: (_call, cb) => {
      calls.Cancel++;
      cb(null, { result: EMPTY });
    },
    // The same answers on the multiplexed stream (the coordinator's default transport).
    Calls: (stream) => {
      stream.on('data', (msg: { call_id: string; phase: string }) => {
        if (msg.phase === 'CONFIRM' && confirmUnavailable) {
          calls.ConfirmRefusedUnavailable++;
          stream.write({ call_id: msg.call_id, code: grpc.status.UNAVAILABLE, message: UNAVAILABLE_MESSAGE, result: EMPTY });
          return;
        }
        if (msg.phase === 'TRY') calls.Try++;
        else if (msg.phase === 'CONFIRM') calls.Confirm++;
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
    const cmd = line.trim();
    if (cmd !== 'confirm ok' && cmd !== 'confirm unavailable') return;
    confirmUnavailable = cmd === 'confirm unavailable';
    process.stdout.write(JSON.stringify({ event: 'confirm', mode: confirmUnavailable ? 'unavailable' : 'ok' }) + '\n');
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
