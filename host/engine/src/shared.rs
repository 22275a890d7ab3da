//! The state the engine's tasks share: the store, the registry, the clock, the configuration, this
//! process's lease owner id, the metrics and the held leases. The turn driver and the activity
//! workers take it from here, so that neither depends on the `Keel` handle that starts them.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::module::Registry;
use crate::store::Store;

/// State shared by the engine's tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) registry: Registry,
    pub(crate) clock: SharedClock,
    pub(crate) config: Config,
    /// This process's lease owner id.
    pub(crate) owner: String,
    pub(crate) metrics: Metrics,
    /// The leased rows live tasks are working on: the only ones whose leases are renewed.
    pub(crate) held: Arc<crate::held::Held>,
    /// Activities answered without a guest (a test kit's stand-ins).
    pub(crate) mocks: crate::mocks::Mocks,
}
