//! The memory a guest's store may hold: every linear memory and every table of the store counted
//! together against one cap (a component made of many core modules cannot multiply it), and a bound
//! on how many core instances, memories and tables a store may create.
//!
//! The running total is shared ([`Footprint`]) so that the hot-instance cache can weigh a parked
//! guest by the bytes it holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::ResourceLimiter;

use crate::limits::StoreCounts;

/// Bytes a table element is counted as: wasmtime stores one pointer per element.
pub(crate) const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

/// The bytes of linear memory and tables a store holds now; cloned out of the store to weigh it.
#[derive(Debug, Clone, Default)]
pub struct Footprint(Arc<AtomicUsize>);

impl Footprint {
    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A growth the cap refused; the guest traps with it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the guest tried to grow its memory and tables to {wanted} bytes, beyond the limit of {cap} bytes"
)]
pub(crate) struct MemoryCapReached {
    wanted: usize,
    cap: usize,
}

/// The resource limiter of one store.
#[derive(Debug)]
pub(crate) struct GuestLimiter {
    cap: usize,
    counts: StoreCounts,
    held: Footprint,
    /// The bytes added by the growth allowed last, taken back if the growth then fails.
    last_growth: usize,
    /// Set once a growth was refused for the cap.
    refused: bool,
}

impl GuestLimiter {
    /// A limiter allowing `cap` bytes of memories and tables together, and `counts`.
    pub(crate) fn new(cap: usize, counts: StoreCounts) -> Self {
        Self {
            cap,
            counts,
            held: Footprint::default(),
            last_growth: 0,
            refused: false,
        }
    }

    /// The store's running total.
    pub(crate) fn footprint(&self) -> Footprint {
        self.held.clone()
    }

    /// True once the guest was refused memory or table space for the cap.
    pub(crate) fn refused(&self) -> bool {
        self.refused
    }

    /// Counts a growth from `current` to `desired` bytes, or refuses it (a trap) past the cap.
    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let held = self.held.bytes();
        let added = desired.saturating_sub(current);
        let wanted = held.saturating_add(added);
        if wanted > self.cap {
            self.refused = true;
            return Err(MemoryCapReached {
                wanted,
                cap: self.cap,
            }
            .into());
        }
        self.held.0.store(wanted, Ordering::Relaxed);
        self.last_growth = added;
        Ok(true)
    }

    /// Takes back the growth allowed last: it failed after all.
    fn undo_growth(&mut self) {
        let held = self.held.bytes().saturating_sub(self.last_growth);
        self.held.0.store(held, Ordering::Relaxed);
        self.last_growth = 0;
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the memory's own maximum the growth fails as the guest declared it would.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.grow(current, desired)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo_growth();
        Err(error.context("growing a linear memory failed"))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.grow(
            current.saturating_mul(TABLE_ELEMENT_BYTES),
            desired.saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo_growth();
        Err(error.context("growing a table failed"))
    }

    fn instances(&self) -> usize {
        self.counts.instances
    }

    fn tables(&self) -> usize {
        self.counts.tables
    }

    fn memories(&self) -> usize {
        self.counts.memories
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::component::Component;
    use wasmtime_wasi::WasiCtx;

    use super::*;
    use crate::capability::outgoing::Policy;
    use crate::limits::{Limits, StoreCounts};
    use crate::module::Runtime;
    use crate::module::runtime::HostState;

    const MIB: usize = 1 << 20;

    /// Instantiates component `wat` in a store capped at 4 MiB (and `counts`); returns the failure
    /// kind and message, or the bytes held on success.
    async fn instantiate(wat: &str, counts: StoreCounts) -> Result<usize, (String, String)> {
        let limits = Limits {
            memory_bytes: 4 * MIB,
            store_counts: counts,
            ..Limits::default()
        };
        let runtime = Runtime::new(limits).expect("runtime");
        let component = Component::new(runtime.engine(), wat).expect("component");
        let state = HostState::new(
            WasiCtx::builder().build(),
            runtime.limits(),
            1_000,
            Policy::Refused { who: "test".into() },
        );
        let mut store = runtime.store(state);
        match runtime
            .linker()
            .instantiate_async(&mut store, &component)
            .await
        {
            Ok(_) => Ok(store.data().footprint().bytes()),
            Err(e) => {
                let failure = store.data().failure_of(&e, "CpuLimitExceeded", 1_000);
                Err((failure.kind, failure.message))
            }
        }
    }

    /// A component instantiating `n` core modules, each with a memory of `pages` 64 KiB pages and a
    /// table of `elements` elements.
    fn modules(n: usize, pages: usize, elements: usize) -> String {
        let mut wat = String::from("(component\n");
        for i in 0..n {
            wat.push_str(&format!(
                "(core module $m{i} (memory {pages}) (table {elements} funcref))\n\
                 (core instance (instantiate $m{i}))\n"
            ));
        }
        wat.push(')');
        wat
    }

    #[tokio::test]
    async fn the_cap_covers_every_memory_of_a_store_together() {
        // One memory of 3 MiB fits in 4 MiB.
        let held = instantiate(&modules(1, 48, 0), StoreCounts::default()).await;
        assert_eq!(held, Ok(3 * MIB));
        // Two of them do not, though each alone would.
        let (kind, message) = instantiate(&modules(2, 48, 0), StoreCounts::default())
            .await
            .expect_err("6 MiB of memories in a 4 MiB store");
        assert_eq!(kind, "MemoryLimitExceeded", "{message}");
        assert!(message.contains("4 MiB"), "{message}");
    }

    #[tokio::test]
    async fn tables_count_against_the_same_cap() {
        // 1 MiB of memory and 512 Ki elements (4 MiB at 8 bytes each) together exceed 4 MiB.
        let (kind, message) = instantiate(&modules(1, 16, 512 * 1024), StoreCounts::default())
            .await
            .expect_err("a table beyond the cap");
        assert_eq!(kind, "MemoryLimitExceeded", "{message}");
        let held = instantiate(&modules(1, 16, 1024), StoreCounts::default()).await;
        assert_eq!(held, Ok(MIB + 1024 * TABLE_ELEMENT_BYTES));
    }

    #[tokio::test]
    async fn a_store_cannot_create_more_instances_memories_or_tables_than_allowed() {
        let counts = StoreCounts {
            instances: 4,
            memories: 16,
            tables: 16,
        };
        assert!(instantiate(&modules(4, 1, 1), counts).await.is_ok());
        let (_, message) = instantiate(&modules(5, 1, 1), counts)
            .await
            .expect_err("five instances where four are allowed");
        assert!(message.contains("instance"), "{message}");
        let counts = StoreCounts {
            instances: 16,
            memories: 2,
            tables: 16,
        };
        let (_, message) = instantiate(&modules(3, 1, 1), counts)
            .await
            .expect_err("three memories where two are allowed");
        assert!(message.contains("memor"), "{message}");
    }
}
