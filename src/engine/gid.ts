import { randomBytes } from 'node:crypto';

// Crockford base32: sorts in the same order as the numbers it encodes.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Makes ULID-style ids: 48 bits of milliseconds then 80 random bits, 26
 * characters. Ids from one generator sort in creation order even within the
 * same millisecond: the random part then grows by a random step of 1 to
 * 2^64 rather than by one, so a neighbour of a known gid cannot be guessed
 * (plain ULID monotonicity makes the next gid the last one plus one). Two
 * processes collide only with probability ~2^-80 per millisecond.
 */
export class GidGenerator {
  private lastMs = -1;
  private lastRandom = Buffer.alloc(10);

  constructor(private readonly now: () => number) {}

  next(): string {
    let ms = this.now();
    if (ms <= this.lastMs) {
      this.increment();
      ms = this.lastMs; // after: an overflow moved it on
    } else {
      this.lastMs = ms;
      this.lastRandom = randomBytes(10);
    }
    return encodeTime(ms) + encodeRandom(this.lastRandom);
  }

  private increment(): void {
    const step = randomBytes(8);
    let carry = 1; // step + 1: never zero
    for (let i = this.lastRandom.length - 1; i >= 0; i--) {
      const j = i - (this.lastRandom.length - step.length);
      const sum = this.lastRandom[i] + (j >= 0 ? step[j] : 0) + carry;
      this.lastRandom[i] = sum & 0xff;
      carry = sum >> 8;
    }
    if (carry) {
      // Past 2^80 within one millisecond: move to the next one (fresh random part) rather than wrap.
      this.lastMs++;
      this.lastRandom = randomBytes(10);
    }
  }
}

function encodeTime(ms: number): string {
  let out = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

function encodeRandom(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out;
}
