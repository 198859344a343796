/** Command line of `npm run chaos` (chaos/chaos-args.ts). */
import { expect } from 'chai';
import { ChaosArgsError, parseChaosArgs } from '../chaos/chaos-args';

const parse = (...argv: string[]) => parseChaosArgs(argv, () => 77);

describe('chaos command line', function () {
  it('defaults: 60 s, a random seed, 2 replicas, no transport', function () {
    const a = parse();
    expect(a).to.include({ durationMs: 60_000, seed: 77, replicas: 2, transport: undefined, workers: 6, help: false });
  });

  it('reads --minutes, --seconds, --seed, --replicas, --transport, --workers, --max-transactions, --quiescence-seconds', function () {
    expect(parse('--minutes', '10').durationMs).to.equal(600_000);
    expect(parse('--seconds', '40', '--seed', '5', '--replicas', '3', '--transport', 'stream').valueOf()).to.include({
      durationMs: 40_000,
      seed: 5,
      replicas: 3,
      transport: 'stream',
    });
    expect(parse('--workers', '2', '--max-transactions', '10', '--quiescence-seconds', '9')).to.include({
      workers: 2,
      maxTransactions: 10,
      quiescenceTimeoutMs: 9_000,
    });
    expect(parse('--help').help).to.equal(true);
  });

  for (const argv of [['--replicas', '4'], ['--replicas', '1'], ['--seconds'], ['--seconds', '-3'], ['--seed', 'x'], ['--transport', 'a b'], ['--verbose']]) {
    it(`refuses ${argv.join(' ')} naming the flag`, function () {
      expect(() => parse(...argv)).to.throw(ChaosArgsError, argv[0]);
    });
  }
});
