import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';

/** The repository root (this file runs from dist/test/). */
const ROOT = path.resolve(__dirname, '..', '..');
const BENCH = path.join(ROOT, 'dist', 'bench', 'run.js');
const TRACKED_RESULTS = path.join(ROOT, 'bench', 'RESULTS.md');
/** The smallest real run: one scenario on SQLite, half a second. */
const TINY_RUN = ['--seconds', '0.5', '--warmup', '0', '--db', 'sqlite', '--wait', 'false', '--concurrency', '2', '--drain-seconds', '20'];

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, ...args], { cwd: ROOT, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('bench command line', function () {
  this.timeout(180_000);

  it('--help answers on stdout with every option, exit 0', async () => {
    const { code, stdout } = await bench(['--help']);
    expect(code).to.equal(0);
    for (const option of ['--seconds', '--concurrency', '--db', '--wait', '--mysql-url', '--write', '--results', '--profile', '--transport']) {
      expect(stdout).to.include(option);
    }
  });

  it('an unknown argument: exit 2, naming it', async () => {
    const { code, stderr } = await bench(['--frobnicate']);
    expect(code).to.equal(2);
    expect(stderr).to.include('unknown argument --frobnicate');
  });

  it('leaves the tracked bench/RESULTS.md alone unless asked; --results FILE writes there', async () => {
    const before = fs.readFileSync(TRACKED_RESULTS);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcc-bench-cli-'));
    try {
      const plain = await bench(TINY_RUN);
      expect(plain.code, plain.stderr).to.equal(0);
      expect(plain.stdout).to.include('| sqlite |');
      expect(fs.readFileSync(TRACKED_RESULTS).equals(before), 'bench/RESULTS.md was changed by a run without --write').to.equal(true);

      const file = path.join(dir, 'results.md');
      const written = await bench([...TINY_RUN, '--results', file]);
      expect(written.code, written.stderr).to.equal(0);
      expect(fs.readFileSync(file, 'utf8')).to.include('| sqlite |');
    } finally {
      // Whatever happened, the tracked file is as it was.
      fs.writeFileSync(TRACKED_RESULTS, before);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
