// Public surface of the scheduler: the deterministic lock manager and the driver that applies log entries.
export { LockManager, LockMode } from './lockManager.js';
export type { LockRequest, LockTarget } from './lockManager.js';
export { Scheduler } from './scheduler.js';
export type { ExecutedTxn } from './scheduler.js';
export { TxnDedupWindow, TxnDedupDefaults } from './txnDedup.js';
