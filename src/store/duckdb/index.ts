// The embedded DuckDB flow store: what the CLI, the server and the tests import.

export { LOCK_FILE, readLock, setLockApi } from './lock.js';
export { isRollupDim, ROLLUP_1M, ROLLUP_DIMS } from './rollup.js';
export { DB_FILE, openStore, planTable } from './store.js';
