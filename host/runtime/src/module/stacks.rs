//! Fiber stacks for guests' async calls, kept for reuse.
//!
//! Every call into a guest runs on a fiber stack of its own. wasmtime's on-demand allocator maps a
//! fresh stack for each store and unmaps it when the store is dropped: an `mmap`, an `mprotect` for
//! the guard page, page faults as the stack is touched, and an `munmap` whose TLB shoot-down
//! interrupts the other cores. A store lives for one activity attempt, so that was paid on every
//! attempt. This pool keeps up to [`KEPT`] stacks that guests have finished with and hands them to
//! the next store, already mapped and faulted in.
//!
//! A reused stack is not cleared unless wasmtime asks for a zeroed one (it does not by default):
//! a guest's code cannot address the native stack it runs on, only its own linear memory, which is
//! always fresh. This is what wasmtime's pooling allocator does with its stacks too.
#![expect(
    unsafe_code,
    reason = "a stack creator maps memory and hands raw pointers to wasmtime, by wasmtime's contract"
)]

use std::ops::Range;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::{StackCreator, StackMemory};

/// How many unused stacks the pool keeps mapped at most; more are unmapped when freed.
///
/// Enough for the turns and attempts a worker runs at once by default; at the default stack size
/// of 2 MiB it bounds what the pool can hold to 128 MiB of address space, of which only the pages
/// guests touched are resident.
pub const KEPT: usize = 64;

/// A stack creator that reuses the stacks of stores that were dropped.
#[derive(Debug, Default)]
pub struct StackPool {
    free: Arc<Mutex<Vec<Region>>>,
}

impl StackPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many unused stacks the pool holds now.
    pub fn idle(&self) -> usize {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One mapping: a guard page at the bottom, then `size` bytes of stack.
#[derive(Debug)]
struct Region {
    base: NonNull<u8>,
    page: usize,
    size: usize,
}

// SAFETY: a region is plain memory owned by whoever holds the `Region`; nothing in it is tied to a
// thread, and `&Region` only reads its address and sizes.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    fn map(size: usize) -> Result<Self, wasmtime::Error> {
        let page = page_size();
        let size = size.div_ceil(page) * page;
        let len = size + page;
        // SAFETY: a new private anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(wasmtime::Error::msg(format!(
                "mapping a fiber stack of {len} bytes failed: {}",
                std::io::Error::last_os_error()
            )));
        }
        let region = Self {
            base: NonNull::new(base.cast::<u8>())
                .ok_or_else(|| wasmtime::Error::msg("mmap returned a null fiber stack"))?,
            page,
            size,
        };
        // SAFETY: the first page of the mapping just made; from here on it is the guard.
        if unsafe { libc::mprotect(base, page, libc::PROT_NONE) } != 0 {
            return Err(wasmtime::Error::msg(format!(
                "protecting a fiber stack's guard page failed: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(region)
    }

    fn stack(&self) -> Range<usize> {
        let start = self.base.as_ptr() as usize + self.page;
        start..start + self.size
    }

    /// Gives the stack's pages back to the kernel, so that they read as zeroes next time.
    fn zero(&self) -> Result<(), wasmtime::Error> {
        let start = self.stack().start as *mut libc::c_void;
        // SAFETY: the stack part of a mapping this region owns and nobody runs on.
        if unsafe { libc::madvise(start, self.size, libc::MADV_DONTNEED) } != 0 {
            return Err(wasmtime::Error::msg(format!(
                "clearing a reused fiber stack failed: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the whole mapping made in `map`; nothing refers to it once the region is dropped.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.size + self.page);
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(4096)
}

/// A stack lent to wasmtime; it goes back to its pool when wasmtime drops it.
struct Lent {
    region: Option<Region>,
    free: Arc<Mutex<Vec<Region>>>,
}

impl Lent {
    fn region(&self) -> &Region {
        // Only `drop` takes the region out.
        self.region
            .as_ref()
            .unwrap_or_else(|| unreachable!("a lent stack keeps its region until it is dropped"))
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let Some(region) = self.region.take() else {
            return;
        };
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < KEPT {
            free.push(region);
        }
    }
}

// SAFETY: the mapping outlives every use wasmtime makes of it (the region is unmapped only after
// wasmtime drops the `Lent`), the stack part is page aligned and writable, and the page below it
// is an inaccessible guard.
unsafe impl StackMemory for Lent {
    fn top(&self) -> *mut u8 {
        self.region().stack().end as *mut u8
    }

    fn range(&self) -> Range<usize> {
        self.region().stack()
    }

    fn guard_range(&self) -> Range<*mut u8> {
        let region = self.region();
        let base = region.base.as_ptr();
        base..base.wrapping_add(region.page)
    }
}

// SAFETY: every stack handed out is one mapping of its own, lent to one fiber until dropped.
unsafe impl StackCreator for StackPool {
    fn new_stack(
        &self,
        size: usize,
        zeroed: bool,
    ) -> Result<Box<dyn StackMemory>, wasmtime::Error> {
        let reused = {
            let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
            // Stacks of another size (the configuration does not change while a pool lives, so
            // there are none in practice) are unmapped rather than handed out.
            let mut found = None;
            while let Some(region) = free.pop() {
                if region.size >= size && region.size < size + region.page {
                    found = Some(region);
                    break;
                }
            }
            found
        };
        let region = match reused {
            Some(region) => {
                if zeroed {
                    region.zero()?;
                }
                region
            }
            None => Region::map(size)?,
        };
        Ok(Box::new(Lent {
            region: Some(region),
            free: self.free.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_stack_is_lent_again_and_the_pool_keeps_at_most_its_bound() {
        let pool = StackPool::new();
        let first = pool.new_stack(64 << 10, false).expect("a stack");
        let range = first.range();
        assert_eq!(range.end - range.start, 64 << 10);
        assert_eq!(first.top() as usize, range.end);
        assert_eq!(first.guard_range().end as usize, range.start);
        // The stack is writable from bottom to top.
        // SAFETY: the stack's own range, not in use by any fiber.
        unsafe {
            std::ptr::write_bytes(range.start as *mut u8, 7, range.end - range.start);
        }
        drop(first);
        assert_eq!(pool.idle(), 1);

        let again = pool.new_stack(64 << 10, false).expect("a stack");
        assert_eq!(again.range(), range, "the freed stack is reused");
        assert_eq!(pool.idle(), 0);

        let zeroed = {
            drop(again);
            pool.new_stack(64 << 10, true).expect("a stack")
        };
        // SAFETY: as above.
        let first_byte = unsafe { *(zeroed.range().start as *const u8) };
        assert_eq!(first_byte, 0, "a stack asked for zeroed reads as zeroes");

        let many: Vec<_> = (0..KEPT + 5)
            .map(|_| pool.new_stack(16 << 10, false).expect("a stack"))
            .collect();
        drop(many);
        assert_eq!(pool.idle(), KEPT);
        drop(zeroed);
        assert_eq!(pool.idle(), KEPT);
    }
}
