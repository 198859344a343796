/** tccctl's help texts. The exit codes here are a contract: keep them in step with tccctl-errors.ts and the README. */
import type { CommandName } from './tccctl-args';
import { DEFAULT_ADDR, DEFAULT_TIMEOUT_MS } from './tccctl-settings';

const GLOBAL = `Global options (before or after the command):
  --addr HOST:PORT   coordinator gRPC address (env TCC_ADDR; default ${DEFAULT_ADDR})
  --token TOKEN      admin bearer token (env TCC_ADMIN_TOKEN; prefer the env: argv is visible in ps)
  --tls-ca FILE      PEM CA verifying the coordinator: TLS on (env TCCCTL_TLS_CA)
  --tls-cert FILE    PEM client certificate, for mutual TLS (env TCCCTL_TLS_CERT; with --tls-key)
  --tls-key FILE     its PEM private key (env TCCCTL_TLS_KEY)
  --operator NAME    who you are, recorded by abort and resolve (env TCC_OPERATOR; default $USER@hostname)
  --timeout MS       deadline of each call to the coordinator (default ${DEFAULT_TIMEOUT_MS})
  --json             print JSON only on stdout (int64 fields as numbers); errors still go to stderr
  -h, --help         this help; "tccctl help COMMAND" for one command`;

const EXIT_CODES = `Exit codes:
  0  ok
  1  any other failure
  2  usage error (nothing was sent)
  3  NOT_FOUND: unknown transaction or branch
  4  UNAUTHENTICATED: missing or wrong admin token
  5  FAILED_PRECONDITION: not allowed in the transaction's state
     (abort after the commit decision, resolve of a branch that is not pending)
  6  UNAVAILABLE / DEADLINE_EXCEEDED: coordinator unreachable or not answering
  7  INVALID_ARGUMENT: the coordinator refused a value (malformed gid, ...)`;

const COMMANDS: Record<CommandName, string> = {
  list: `tccctl list [--status S]... [--stuck] [--older-than AGE] [--participant HOST:PORT]
            [--limit N] [--all] [--page-token TOKEN]
  Lists transactions, ordered by gid: gid, status, stuck, attempts, age, next retry, last error.
  --status S          TRYING, CONFIRMING, CONFIRMED, CANCELLING or CANCELLED; repeat or comma-separate
  --stuck             only transactions flagged stuck (phase two keeps failing)
  --older-than AGE    created at least AGE ago: 30s, 10m, 2h, 1d, or a number of ms
  --participant T     only transactions with a branch on this participant target
  --limit N           page size, 1-500 (default 50)
  --all               follow the pages to the end; otherwise the next page's token is printed`,
  show: `tccctl show GID
  The transaction, its branches (Try outcome, phase two, attempts, next retry, last error) and its
  timeline: every Try/Confirm/Cancel call, decision and resolution with its time (from the first
  entry, and absolute), branch, attempt, outcome, gRPC code, duration, node, operator and reason.`,
  retry: `tccctl retry GID
tccctl retry --stuck
  Runs a decided transaction's pending Confirms/Cancels now, clearing their backoff.
  --stuck retries every stuck transaction, one after the other, and prints a summary; it exits
  non-zero when any retry call failed (with that failure's code when all failed the same way).`,
  abort: `tccctl abort GID [--reason TEXT]
  Rolls back a TRYING transaction (its tried branches get Cancel); recorded with your operator name.
  OK when it is or already was rolled back; exit 5 once it is decided to commit.`,
  resolve: `tccctl resolve GID BRANCH --reason TEXT
  Marks a PENDING branch of a CONFIRMING/CANCELLING transaction done by hand, after you fixed the
  participant's data yourself; the coordinator stops calling it. --reason is required and is recorded
  with your operator name. A branch already done is answered unchanged; exit 5 when the transaction
  is not in phase two.`,
};

export function helpText(command?: CommandName): string {
  if (command) return `${COMMANDS[command]}\n\n${GLOBAL}\n\n${EXIT_CODES}\n`;
  return `tccctl: operate a TCC coordinator through its Admin gRPC API

Usage: tccctl COMMAND [ARGS] [OPTIONS]

${Object.values(COMMANDS).join('\n\n')}

${GLOBAL}

${EXIT_CODES}
`;
}
