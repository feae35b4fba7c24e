//! Measuring the simulator's memory: a global allocator that counts live heap bytes, for
//! benchmarks that install it (`#[global_allocator] static A: CountingAlloc = CountingAlloc;`).
//! It forwards to mimalloc, the allocator of the project's binaries, so that what is measured
//! allocates as they do.
//!
//! The count is kept in per-thread shards: one shared counter, updated by every allocation of
//! every thread, bounced its cache line between the cores and cost the benchmarks ~14 % of
//! their CPU.

use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

const SHARDS: usize = 64;

/// One counter on its own cache line (two lines: adjacent-line prefetch pairs them).
#[repr(align(128))]
struct Shard(AtomicI64);

static LIVE_HEAP: [Shard; SHARDS] = [const { Shard(AtomicI64::new(0)) }; SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard; `usize::MAX` until its first allocation. Const-initialised and
    /// without a destructor, so it is there (and allocates nothing) for as long as the thread.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The shard of the calling thread. A thread's frees may land in another shard than its
/// allocations; only the sum means anything.
fn shard() -> &'static AtomicI64 {
    let index = SHARD
        .try_with(|shard| {
            let mut index = shard.get();
            if index == usize::MAX {
                index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
                shard.set(index);
            }
            index
        })
        .unwrap_or(0);
    &LIVE_HEAP[index].0
}

/// mimalloc, counting live heap bytes; benchmarks install it to measure the simulator's
/// storage exactly, apart from allocator fragmentation.
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to mimalloc.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        shard().fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shard().fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        shard().fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// Live heap bytes, when [`CountingAlloc`] is the global allocator (0 otherwise).
pub fn heap_bytes() -> i64 {
    LIVE_HEAP
        .iter()
        .map(|shard| shard.0.load(Ordering::Relaxed))
        .sum()
}
