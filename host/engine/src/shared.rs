//! The state the engine's tasks share: the store, the registry, the clock, the configuration, this
//! process's lease owner id, the metrics and the held leases. The turn driver and the activity
//! workers take it from here, so that neither depends on the `Keel` handle that starts them.

use std::sync::{Arc, Mutex, Weak};

use crate::clock::SharedClock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::module::Registry;
use crate::orchestration::hot::HotInstance;
use crate::orchestration::hot_cache::HotCache;
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
    /// The hot guests of this process's workers, for queries.
    pub(crate) hot_caches: HotCaches,
}

/// The hot-guest caches of the workers running in this process (weakly: a stopped worker's goes).
#[derive(Debug, Default)]
pub(crate) struct HotCaches(Mutex<Vec<Weak<Mutex<HotCache>>>>);

impl HotCaches {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Mutex<HotCache>>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a worker's cache.
    pub(crate) fn register(&self, cache: &Arc<Mutex<HotCache>>) {
        let mut caches = self.lock();
        caches.retain(|c| c.strong_count() > 0);
        caches.push(Arc::downgrade(cache));
    }

    /// Takes instance `id`'s guest out of the cache holding it, if `fits` says it is the one
    /// wanted; with the cache, to give it back to.
    pub(crate) fn take_if(
        &self,
        id: &str,
        fits: impl Fn(&HotInstance) -> bool,
    ) -> Option<(Arc<Mutex<HotCache>>, HotInstance)> {
        let caches: Vec<_> = self.lock().iter().filter_map(Weak::upgrade).collect();
        caches.into_iter().find_map(|cache| {
            let hot = cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take_if(id, &fits)?;
            Some((cache, hot))
        })
    }
}
