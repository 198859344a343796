import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Options of {@link ConsoleSessions}. */
export interface ConsoleSessionsOptions {
  /** The admin token (TCC_ADMIN_TOKEN) a login must present. */
  adminToken: string;
  /** How long a session lasts after login, ms. Default 8 h. */
  ttlMs?: number;
  /** Most live sessions; past it the oldest is dropped. Default 1 000. */
  maxSessions?: number;
  /** Clock. Default Date.now. */
  now?: () => number;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Console logins: the admin token is presented once (a form POST), and the
 * browser then holds a random session id in an HttpOnly cookie, so the token
 * never appears in a URL, a page or browser history. Sessions live in this
 * process's memory: a restart logs everyone out.
 */
export class ConsoleSessions {
  private readonly sessions = new Map<string, number>();
  private readonly expected: Buffer;
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(o: ConsoleSessionsOptions) {
    this.expected = digest(o.adminToken);
    this.ttlMs = o.ttlMs ?? 8 * 3_600_000;
    this.max = o.maxSessions ?? 1_000;
    this.now = o.now ?? Date.now;
  }

  /** A new session id when `token` is the admin token (constant-time check), else undefined. */
  login(token: string): string | undefined {
    if (token === '' || !timingSafeEqual(digest(token), this.expected)) return undefined;
    for (const [id] of this.sessions) {
      if (this.sessions.size < this.max) break;
      this.sessions.delete(id);
    }
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, this.now() + this.ttlMs);
    return id;
  }

  /** Whether `id` is a live session. */
  valid(id: string | undefined): boolean {
    if (!id) return false;
    const until = this.sessions.get(id);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.sessions.delete(id);
      return false;
    }
    return true;
  }

  logout(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }
}
