//! Integration tests: the `retort` binary end to end, and real PostgreSQL through the
//! harness in `support` (one fresh database per test, so tests run in parallel).

mod adopt;
mod batch;
mod batch_workload;
mod catalog;
mod catalog_incremental;
mod catalog_inspect;
mod cli_offline;
mod compare;
mod connect;
mod diff_golden;
mod diff_property;
#[cfg(feature = "docker")]
mod docker;
mod embedded;
mod example_chain;
mod fleet;
mod fleet_pool;
mod fleet_queue;
mod fleet_queue_view;
mod fleet_shard;
mod hostile;
mod import;
mod lint;
mod lint_observe;
mod lock_retry;
mod malformed;
mod models_dump;
mod runner;
mod secrets;
mod server_faults;
mod sum_git;
mod support;
mod tampered;
mod test_migration;
