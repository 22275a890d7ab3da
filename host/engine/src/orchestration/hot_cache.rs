//! Hot instances between turns, by instance id: bounded by count and by the bytes of linear memory
//! and tables their guests hold, the least recently used evicted first.
//!
//! A guest's weight is its store's footprint (every memory and table together, as the memory cap
//! counts it) when it is put back after a turn. What a store costs beyond that (wasmtime's
//! per-instance state, the fiber stack's touched pages, the history kept for replay) is not
//! counted; `BENCHMARKS.md` gives the resident memory per waiting instance that results.

use std::collections::{BTreeMap, HashMap};

use super::hot::HotInstance;

/// The cache's two bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HotBounds {
    /// Most instances held; 0 disables the cache.
    pub(crate) count: usize,
    /// Most bytes of guest memory and tables held.
    pub(crate) bytes: usize,
}

struct Entry {
    used: u64,
    bytes: usize,
    hot: HotInstance,
}

/// Hot instances by instance id.
pub(crate) struct HotCache {
    bounds: HotBounds,
    clock: u64,
    bytes: usize,
    entries: HashMap<String, Entry>,
    /// Ids by last use, oldest first.
    order: BTreeMap<u64, String>,
}

impl std::fmt::Debug for HotCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotCache")
            .field("bounds", &self.bounds)
            .field("len", &self.entries.len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl HotCache {
    pub(crate) fn new(bounds: HotBounds) -> Self {
        Self {
            bounds,
            clock: 0,
            bytes: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// Takes instance `id` out of the cache.
    pub(crate) fn take(&mut self, id: &str) -> Option<HotInstance> {
        let entry = self.entries.remove(id)?;
        self.order.remove(&entry.used);
        self.bytes -= entry.bytes;
        Some(entry.hot)
    }

    /// Takes instance `id` out of the cache if `fits` says it is the one wanted; otherwise leaves it.
    pub(crate) fn take_if(
        &mut self,
        id: &str,
        fits: impl FnOnce(&HotInstance) -> bool,
    ) -> Option<HotInstance> {
        if !fits(&self.entries.get(id)?.hot) {
            return None;
        }
        self.take(id)
    }

    /// Gives back `hot`, taken out for a query, unless the instance has another guest here by now
    /// (a turn that ran meanwhile replayed one): then `hot`, older, is dropped. Returns as
    /// [`put`](Self::put) does.
    pub(crate) fn give_back(&mut self, id: String, hot: HotInstance) -> u64 {
        if self.entries.contains_key(&id) {
            return 0;
        }
        self.put(id, hot)
    }

    /// Keeps `hot`, evicting the least recently used beyond either bound; returns how many went
    /// (`hot` itself when it alone is over the byte bound or the cache is disabled).
    pub(crate) fn put(&mut self, id: String, hot: HotInstance) -> u64 {
        let bytes = hot.footprint();
        if self.bounds.count == 0 || bytes > self.bounds.bytes {
            return 1;
        }
        self.take(&id);
        let mut evicted = 0;
        self.clock += 1;
        self.order.insert(self.clock, id.clone());
        self.entries.insert(
            id,
            Entry {
                used: self.clock,
                bytes,
                hot,
            },
        );
        self.bytes += bytes;
        while self.entries.len() > self.bounds.count || self.bytes > self.bounds.bytes {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.bytes -= entry.bytes;
                evicted += 1;
            }
        }
        evicted
    }

    /// Drops every instance.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.bytes = 0;
    }

    /// Number of instances held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of guest memory and tables held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}
