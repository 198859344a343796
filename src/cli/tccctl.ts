#!/usr/bin/env node
/**
 * tccctl: the operator's command line for a TCC coordinator's Admin API.
 * `tccctl --help` lists the commands and the exit codes.
 */
import { parseCommandLine, type ParsedCommandLine } from './tccctl-args';
import { EXIT, UsageError, usageErrorLine } from './tccctl-exit-codes';
import { helpText } from './tccctl-help';
import { readEnvironment } from './tccctl-settings';

const out = (text: string) => void process.stdout.write(text);
const err = (text: string) => void process.stderr.write(text);

async function main(argv: readonly string[]): Promise<number> {
  const env = readEnvironment(process.env);
  let parsed: ParsedCommandLine;
  try {
    parsed = parseCommandLine(argv, env);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`${usageErrorLine(e)}\n`);
    return EXIT.USAGE;
  }
  if (parsed.kind === 'help') {
    out(helpText(parsed.command));
    return EXIT.OK;
  }
  // Loaded only now: gRPC and the protos take longer to load than the rest of a --help or a usage error.
  const { executeCommand } = await import('./tccctl-execute');
  return executeCommand(parsed.command, parsed.settings, { out, err });
}

// `tccctl list | head` closes the pipe early: that is not an error worth a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.OK);
  err(`tccctl: cannot write to stdout: ${e.message}\n`);
  process.exit(EXIT.FAILURE);
});

main(process.argv.slice(2)).then(
  (code) => {
    // exitCode, not exit(): stdout may still be draining into a pipe.
    process.exitCode = code;
    // A channel that does not let go must not hold the shell: leave anyway shortly after.
    setTimeout(() => process.exit(code), 2_000).unref();
  },
  (e: unknown) => {
    err(`tccctl: unexpected error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = EXIT.FAILURE;
  },
);
