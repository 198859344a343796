/**
 * Calls a participant's Try/Confirm/Cancel in either form it serves: the
 * unary method, or one message on a tcc.v1.Participant/Calls stream (one
 * stream per client, shared by concurrent calls). Either way the promise
 * resolves with the BranchResponse or rejects with a grpc.ServiceError, so
 * one test body checks both forms.
 */
import * as grpc from '@grpc/grpc-js';
import type { BranchAnswer__Output } from '../../src/generated/tcc/v1/BranchAnswer';
import type { BranchCall } from '../../src/generated/tcc/v1/BranchCall';
import type { BranchRequest } from '../../src/generated/tcc/v1/BranchRequest';
import type { BranchResponse__Output } from '../../src/generated/tcc/v1/BranchResponse';
import type { ParticipantClient } from '../../src/generated/tcc/v1/Participant';

export type CallForm = 'unary' | 'stream';
export const CALL_FORMS: readonly CallForm[] = ['unary', 'stream'];

export interface FormCallOptions {
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

type Phase = 'try' | 'confirm' | 'cancel';
const METHOD = { try: 'Try', confirm: 'Confirm', cancel: 'Cancel' } as const;
const WIRE = { try: 'TRY', confirm: 'CONFIRM', cancel: 'CANCEL' } as const;

/** A ServiceError as grpc-js would give it, from a BranchAnswer's code and message. */
export function answerError(code: number, details: string): grpc.ServiceError {
  const err = new Error(`${code} ${grpc.status[code] ?? ''}: ${details}`) as grpc.ServiceError;
  err.code = code;
  err.details = details;
  err.metadata = new grpc.Metadata();
  return err;
}

/** One shared Calls stream of a client, matching answers to calls by call_id. */
class TestStream {
  private readonly pending = new Map<string, (a: BranchAnswer__Output | grpc.ServiceError) => void>();
  private next = 1;
  readonly call: grpc.ClientDuplexStream<BranchCall, BranchAnswer__Output>;
  ended = false;

  constructor(client: ParticipantClient, onEnd: () => void) {
    this.call = client.Calls(new grpc.Metadata());
    this.call.on('data', (a: BranchAnswer__Output) => {
      const p = this.pending.get(a.call_id);
      this.pending.delete(a.call_id);
      p?.(a);
    });
    this.call.on('error', () => undefined);
    this.call.on('status', (s: grpc.StatusObject) => {
      this.ended = true;
      onEnd();
      for (const p of this.pending.values()) p(answerError(s.code === grpc.status.OK ? grpc.status.UNAVAILABLE : s.code, s.details));
      this.pending.clear();
    });
  }

  send(msg: Omit<BranchCall, 'call_id'>): Promise<BranchAnswer__Output | grpc.ServiceError> {
    const id = String(this.next++);
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.call.write({ ...msg, call_id: id });
    });
  }
}

const streams = new WeakMap<ParticipantClient, TestStream>();

function streamOf(client: ParticipantClient): TestStream {
  let s = streams.get(client);
  if (!s || s.ended) {
    s = new TestStream(client, () => streams.delete(client));
    streams.set(client, s);
  }
  return s;
}

/** Ends the client's shared stream (half-close), if it has one. */
export function endTestStream(client: ParticipantClient): void {
  streams.get(client)?.call.end();
  streams.delete(client);
}

export async function callParticipantAs(
  form: CallForm,
  client: ParticipantClient,
  phase: Phase,
  req: BranchRequest,
  opts: FormCallOptions = {},
): Promise<BranchResponse__Output> {
  const deadlineMs = opts.deadlineMs ?? 5_000;
  const md = opts.metadata ?? new grpc.Metadata();
  if (form === 'unary') {
    return new Promise((resolve, reject) => {
      client[METHOD[phase]](req, md, { deadline: Date.now() + deadlineMs }, (err, res) =>
        err ? reject(err) : res ? resolve(res) : reject(new Error('no response')),
      );
    });
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) metadata[k] = String(v);
  const answer = await Promise.race([
    streamOf(client).send({ phase: WIRE[phase], request: req, timeout_ms: deadlineMs, metadata }),
    // The participant answers DEADLINE_EXCEEDED itself; this only keeps a broken one from hanging the test.
    new Promise<grpc.ServiceError>((resolve) =>
      setTimeout(() => resolve(answerError(grpc.status.DEADLINE_EXCEEDED, 'test: no answer at all')), deadlineMs + 5_000).unref(),
    ),
  ]);
  if (answer instanceof Error) throw answer;
  if (answer.code !== 0) throw answerError(answer.code, answer.message);
  return { result: answer.result };
}
