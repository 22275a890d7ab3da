//! The store's operations, checked on every backend with the same tests: SQLite always, and
//! PostgreSQL when `KEEL_TEST_POSTGRES` names a server (`scripts/test.sh` starts a throwaway cluster
//! and sets it). Each test gets a database of its own.

mod support;

mod capabilities;
mod connect;
mod heartbeats;
mod instances;
mod logs;
mod maintenance;
mod modules;
mod parking;
mod schedules;
mod stats;
mod turns;
mod updates;
mod work_items;
mod workers;
