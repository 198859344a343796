import { randomBytes } from 'node:crypto';

// Crockford base32: sorts in the same order as the numbers it encodes.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Makes ULID-style ids: 48 bits of milliseconds then 80 random bits, 26
 * characters. Ids from one generator sort in creation order even within the
 * same millisecond (the random part is incremented), and two processes
 * collide only with probability ~2^-80 per millisecond.
 */
export class GidGenerator {
  private lastMs = -1;
  private lastRandom = Buffer.alloc(10);

  constructor(private readonly now: () => number) {}

  next(): string {
    let ms = this.now();
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      this.increment();
    } else {
      this.lastMs = ms;
      this.lastRandom = randomBytes(10);
    }
    return encodeTime(ms) + encodeRandom(this.lastRandom);
  }

  private increment(): void {
    for (let i = this.lastRandom.length - 1; i >= 0; i--) {
      if (this.lastRandom[i] !== 0xff) {
        this.lastRandom[i]++;
        return;
      }
      this.lastRandom[i] = 0;
    }
    // 2^80 ids in one millisecond: move to the next one rather than repeat.
    this.lastMs++;
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
