/**
 * A store transaction on MySQL/MariaDB did not behave as READ COMMITTED at
 * start-up (e.g. a proxy or pooler dropped the `SET TRANSACTION` knex sends
 * before BEGIN). Decisions made under another level can miss a branch, so
 * the coordinator refuses to start.
 */
export class IsolationLevelError extends Error {
  constructor(observed: string) {
    super(
      `the coordinator's store transactions do not run at READ COMMITTED on this MySQL/MariaDB connection: in a test transaction ${observed}; ` +
        'check that nothing between the coordinator and the server (proxy, pooler) drops SET TRANSACTION ISOLATION LEVEL',
    );
    this.name = 'IsolationLevelError';
  }
}
