import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import Redis from 'ioredis';
import { redactUrl } from '../shared/service-config';
import { spawnTracked, stopServiceProcess, type ServiceProcess } from './service-process';

/** The Redis the demo's inventory service uses. */
export interface DemoRedis {
  readonly url: string;
  /** Key prefix of this run: every key the inventory writes starts with it. */
  readonly keyPrefix: string;
  /** How it was found, for the output. */
  readonly description: string;
  /** The private server the demo started, if it did. */
  readonly server: ServiceProcess | undefined;
  /** Removes what this run left in Redis (its keys, or the whole private server). */
  cleanup(): Promise<void>;
}

/** No Redis to be had: the message says how to get one. */
export class NoRedisError extends Error {
  constructor(url: string) {
    super(
      'The demo needs Redis for its inventory service, and found none:\n' +
        `  - nothing answers at ${url}, and\n` +
        '  - there is no redis-server on PATH to start a private one.\n' +
        'Get Redis, then run `npm run demo` again:\n' +
        '  - Debian/Ubuntu: sudo apt-get install redis-server   (starts it on 127.0.0.1:6379)\n' +
        '  - macOS:         brew install redis                  (redis-server on PATH is enough)\n' +
        '  - Docker:        docker run --rm -p 6379:6379 redis:7',
    );
    this.name = 'NoRedisError';
  }
}

/**
 * Whether a Redis server answers at `url`: a PING over a plain socket, any
 * Redis reply counts (even -NOAUTH: a server is there). Not ioredis: its
 * connect timer outlives a refused connection and would hold the demo's exit.
 */
function answers(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    let settled = false;
    const socket = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1_000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(/^[+-]/.test(data.toString('latin1'))));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Deletes every key starting with `prefix` (SCAN + UNLINK, never KEYS: the server may be shared). */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  // Only called on a server that answered: no retries, a failure is reported by the caller.
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  let deleted = 0;
  try {
    await redis.connect();
    // The prefix is ours (letters, digits, '-', ':'), so it has no glob characters to escape.
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) deleted += await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/**
 * Redis at `url` when it answers (keys of this run under a unique prefix,
 * deleted by `cleanup`); otherwise a private `redis-server` on a free port,
 * without persistence, stopped by `cleanup`; otherwise NoRedisError.
 * `onSpawn` hears of the private server as soon as it exists, so an
 * interrupted start still stops it.
 */
export async function findOrStartRedis(url: string, dir: string, onSpawn: (server: ServiceProcess) => void): Promise<DemoRedis> {
  const keyPrefix = `tcc-demo:${randomBytes(4).toString('hex')}:`;
  if (await answers(url)) {
    return {
      url,
      keyPrefix,
      description: `${redactUrl(url).replace(/^redis:\/\//, '')}, already running (this run's keys under ${keyPrefix}, deleted at the end)`,
      server: undefined,
      cleanup: async () => {
        await deleteKeys(url, keyPrefix);
      },
    };
  }
  // A port can be taken between finding it free and redis-server binding it: try a few.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    const server = spawnTracked('redis-server', 'redis-server', args, { PATH: process.env.PATH ?? '' });
    onSpawn(server);
    const privateUrl = `redis://127.0.0.1:${port}`;
    const deadline = Date.now() + 5_000;
    while (!server.hasExited() && Date.now() < deadline) {
      if (await answers(privateUrl)) {
        return {
          url: privateUrl,
          keyPrefix,
          description: `127.0.0.1:${port}, a private redis-server (pid ${server.child.pid}, no persistence, stopped at the end)`,
          server,
          cleanup: () => stopServiceProcess(server),
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await stopServiceProcess(server);
    // No pid: the spawn itself failed (ENOENT: no redis-server on PATH).
    if (server.child.pid === undefined) throw new NoRedisError(url);
    if (attempt === 3) {
      throw new Error(`redis-server did not start; its last output:\n    ${server.recentOutput().join('\n    ')}`);
    }
  }
  throw new NoRedisError(url); // not reached: the loop returns or throws
}
