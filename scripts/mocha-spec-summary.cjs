'use strict';
// Mocha reporter: the built-in "spec" reporter, plus one plain closing line
//
//   mocha: N passed, N failed, N skipped
//
// that is guaranteed to be the LAST line the test process prints. Spec's own
// summary ("N passing / N failing") is followed by the failure details, and
// with `exit: false` late output (loggers flushing, sockets closing) can come
// after it too; CI reads the closing line of the run, so it must be this one.
//
// The line is printed right after spec's epilogue; if anything is written to
// stdout/stderr after that, it is printed again when the process exits. If the
// process has not exited a while after the run (a leaked socket, timer or
// pool keeps the event loop alive), the open resources are listed once to
// help find the leak, followed by the summary line again.
const fs = require('node:fs');
const Mocha = require('mocha');

const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

const HANG_WARNING_MS = 20_000;

class SpecWithSummary extends Spec {
  constructor(runner, options) {
    super(runner, options); // registers spec's epilogue on EVENT_RUN_END first
    runner.once(EVENT_RUN_END, () => this.afterEpilogue());
  }

  summaryLine() {
    const s = this.stats;
    return `mocha: ${s.passes || 0} passed, ${s.failures || 0} failed, ${s.pending || 0} skipped`;
  }

  afterEpilogue() {
    const line = this.summaryLine();
    let writtenSince = false;
    const write = (text) => {
      try {
        fs.writeSync(1, text);
      } catch {
        // stdout closed: nothing more can be said
      }
    };
    write(`${line}\n`);

    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write;
      stream.write = function (...args) {
        writtenSince = true;
        return original.apply(this, args);
      };
    }

    const hangTimer = setTimeout(() => {
      let resources = [];
      try {
        resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'Timeout');
      } catch {
        // older Node: no detail
      }
      write(
        `\nmocha: the run ended ${HANG_WARNING_MS / 1000}s ago but the process is still alive ` +
          `(exit: false); open resources: ${resources.join(', ') || 'unknown'}\n${line}\n`,
      );
      writtenSince = false;
    }, HANG_WARNING_MS);
    hangTimer.unref();

    process.on('exit', () => {
      if (writtenSince) write(`${line}\n`);
    });
  }
}

module.exports = SpecWithSummary;
