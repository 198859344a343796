/**
 * Errors of the store layer that callers must tell apart (one class per
 * condition); the gRPC edge maps them to status codes. Nothing was written
 * for the caller that gets one.
 */

/** The group committer's queue is full: the work was refused at once, before anything was written. */
export class StoreQueueFullError extends Error {
  constructor(readonly maxQueuedCommands: number) {
    super('transaction store is overloaded (write queue full); retry later');
    this.name = 'StoreQueueFullError';
  }
}

/** The caller's deadline passed before its work was written: dropped, all of it. */
export class StoreDeadlineExceededError extends Error {
  constructor() {
    super('deadline passed before the request was written; nothing was done');
    this.name = 'StoreDeadlineExceededError';
  }
}

/** A store call took longer than the statement timeout; its connection was closed, so its transaction did not commit unless COMMIT had already reached the server. */
export class StoreTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`transaction store did not answer within ${timeoutMs} ms`);
    this.name = 'StoreTimeoutError';
  }
}
