//! Measuring the simulator's memory: a global allocator that counts live heap bytes, for
//! benchmarks that install it (`#[global_allocator] static A: CountingAlloc = CountingAlloc;`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

static LIVE_HEAP: AtomicI64 = AtomicI64::new(0);

/// The system allocator, counting live heap bytes; benchmarks install it to measure the
/// simulator's storage exactly, apart from allocator fragmentation.
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_HEAP.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_HEAP.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_HEAP.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Live heap bytes, when [`CountingAlloc`] is the global allocator (0 otherwise).
pub fn heap_bytes() -> i64 {
    LIVE_HEAP.load(Ordering::Relaxed)
}
