import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Redis from 'ioredis';
import type { Logger } from 'pino';
import type { SingletonLease } from './singleton-lease';
import { describeError } from '../log/describe-error';

/** Compiled code runs from dist/src/lease/; the scripts stay in the source tree (like proto/). */
const LUA_DIR = path.resolve(__dirname, '..', '..', '..', 'src', 'lease', 'lua');

/** Options of {@link RedisSingletonLease}. */
export interface RedisSingletonLeaseOptions {
  redis: Redis;
  /** Prefix of the lease keys. Default `tcc:lease:`. */
  keyPrefix?: string;
  /** This process's name, part of its owner token. */
  node: string;
  logger: Logger;
  /** Longest a Redis round trip may take before the lease is assumed held, ms. Default 500. */
  commandTimeoutMs?: number;
}

type LeaseCommands = {
  tccLeaseHold(key: string, owner: string, ttlMs: number): Promise<number>;
  tccLeaseRelease(key: string, owner: string): Promise<number>;
};

/**
 * Singleton leases in Redis (SET NX PX, renewed and released by owner with
 * Lua). When Redis does not answer in time the lease counts as held: the
 * work then runs on several replicas, which is safe, instead of on none.
 */
export class RedisSingletonLease implements SingletonLease {
  private readonly redis: Redis & LeaseCommands;
  private readonly prefix: string;
  /** Unique per process: a restarted process with the same node id must not inherit a lease. */
  private readonly owner: string;
  private readonly held = new Set<string>();
  private readonly timeoutMs: number;

  constructor(private readonly o: RedisSingletonLeaseOptions) {
    this.prefix = o.keyPrefix ?? 'tcc:lease:';
    this.owner = `${o.node}#${randomBytes(6).toString('hex')}`;
    this.timeoutMs = o.commandTimeoutMs ?? 500;
    const redis = o.redis as Redis & Partial<LeaseCommands>;
    if (!redis.tccLeaseHold) {
      redis.defineCommand('tccLeaseHold', { numberOfKeys: 1, lua: fs.readFileSync(path.join(LUA_DIR, 'lease-hold.lua'), 'utf8') });
      redis.defineCommand('tccLeaseRelease', { numberOfKeys: 1, lua: fs.readFileSync(path.join(LUA_DIR, 'lease-release.lua'), 'utf8') });
    }
    this.redis = redis as Redis & LeaseCommands;
  }

  async hold(name: string, ttlMs: number): Promise<boolean> {
    try {
      const got = await this.bounded(this.redis.tccLeaseHold(this.prefix + name, this.owner, Math.max(1, Math.round(ttlMs))));
      if (got === 1) this.held.add(name);
      else this.held.delete(name);
      return got === 1;
    } catch (err) {
      this.o.logger.debug({ lease: name, err: describeError(err) }, 'lease check failed; doing the work anyway');
      return true;
    }
  }

  async releaseAll(): Promise<void> {
    const names = [...this.held];
    this.held.clear();
    await Promise.allSettled(names.map((n) => this.bounded(this.redis.tccLeaseRelease(this.prefix + n, this.owner))));
  }

  private bounded<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}
