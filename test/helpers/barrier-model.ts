/**
 * The reference model of a participant barrier, shared by the SQL and Redis
 * barrier suites: for any sequence of Try / Confirm / Cancel calls of ONE
 * branch (duplicates and reorderings included), what each call must answer
 * and which business changes must have been applied once the sequence is over.
 *
 * Answers:
 * - ok: OK to the coordinator (the change ran, or it was a duplicate, or an empty rollback)
 * - refused: Try refused (ABORTED): Try after the branch's Cancel (anti-suspension)
 * - violation: Confirm after Cancel, Cancel after Confirm, Confirm without a Try
 *   (FAILED_PRECONDITION: the coordinator never sends these)
 */
export type BarrierOp = 'try' | 'confirm' | 'cancel';
export type BarrierAnswer = 'ok' | 'refused' | 'violation';

/** How many times each business change ran (each must be 0 or 1). */
export interface AppliedCounts {
  try: number;
  confirm: number;
  cancel: number;
}

type State = 'none' | 'tried' | 'confirmed' | 'cancelled-after-try' | 'cancelled-empty';

interface Step {
  answer: BarrierAnswer;
  next: State;
  applies?: BarrierOp;
}

const TRANSITIONS: Record<State, Record<BarrierOp, Step>> = {
  none: {
    try: { answer: 'ok', next: 'tried', applies: 'try' },
    confirm: { answer: 'violation', next: 'none' },
    cancel: { answer: 'ok', next: 'cancelled-empty' },
  },
  tried: {
    try: { answer: 'ok', next: 'tried' },
    confirm: { answer: 'ok', next: 'confirmed', applies: 'confirm' },
    cancel: { answer: 'ok', next: 'cancelled-after-try', applies: 'cancel' },
  },
  confirmed: {
    try: { answer: 'ok', next: 'confirmed' },
    confirm: { answer: 'ok', next: 'confirmed' },
    cancel: { answer: 'violation', next: 'confirmed' },
  },
  'cancelled-after-try': {
    try: { answer: 'refused', next: 'cancelled-after-try' },
    confirm: { answer: 'violation', next: 'cancelled-after-try' },
    cancel: { answer: 'ok', next: 'cancelled-after-try' },
  },
  'cancelled-empty': {
    try: { answer: 'refused', next: 'cancelled-empty' },
    confirm: { answer: 'violation', next: 'cancelled-empty' },
    cancel: { answer: 'ok', next: 'cancelled-empty' },
  },
};

/** What the model says a sequence of calls to one branch answers and applies. */
export function expectedOutcome(seq: readonly BarrierOp[]): { answers: BarrierAnswer[]; applied: AppliedCounts } {
  let state: State = 'none';
  const answers: BarrierAnswer[] = [];
  const applied: AppliedCounts = { try: 0, confirm: 0, cancel: 0 };
  for (const op of seq) {
    const step: Step = TRANSITIONS[state][op];
    answers.push(step.answer);
    if (step.applies) applied[step.applies]++;
    state = step.next;
  }
  return { answers, applied };
}

/** Every sequence over {try, confirm, cancel} of length 1..maxLength (3 + 9 + 27 + ... sequences). */
export function allSequences(maxLength: number): BarrierOp[][] {
  const ops: BarrierOp[] = ['try', 'confirm', 'cancel'];
  const out: BarrierOp[][] = [];
  let layer: BarrierOp[][] = [[]];
  for (let len = 1; len <= maxLength; len++) {
    layer = layer.flatMap((prefix) => ops.map((op) => [...prefix, op]));
    out.push(...layer);
  }
  return out;
}
