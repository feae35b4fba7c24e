//! Measuring the simulator's memory: a global allocator that counts live heap bytes, for
//! benchmarks that install it (`#[global_allocator] static A: CountingAlloc = CountingAlloc;`).
//! It forwards to mimalloc, the allocator of the project's binaries, so that what is measured
//! allocates as they do.
//!
//! The count is kept in per-thread shards: one shared counter, updated by every allocation of
//! every thread, bounced its cache line between the cores and cost the benchmarks ~14 % of
//! their CPU.
//!
//! Threads that serve the simulated API servers ([`count_thread_as_server`], see
//! [`crate::transport::listener::serve_on`]) count into shards of their own, so that a
//! benchmark can tell what the API servers hold for their clients (connections, watches,
//! requests in flight) from what the clients hold: in a real fleet that memory is in another
//! process.

use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU8, AtomicUsize, Ordering};

const SHARDS: usize = 64;

/// One counter on its own cache line (two lines: adjacent-line prefetch pairs them).
#[repr(align(128))]
struct Shard(AtomicI64);

/// Shards `0..SHARDS` count every other thread, `SHARDS..2 * SHARDS` the server threads.
static LIVE_HEAP: [Shard; 2 * SHARDS] = [const { Shard(AtomicI64::new(0)) }; 2 * SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard; `usize::MAX` until its first allocation. Const-initialised and
    /// without a destructor, so it is there (and allocates nothing) for as long as the thread.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The shard of the calling thread. A thread's frees may land in another shard than its
/// allocations; only sums mean anything: over all shards, or over the server threads' (what
/// they allocate they also free, but for stored objects that a client in the same process
/// reads and drops last: the servers share nothing else with clients but sockets).
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

/// Counts the calling thread's allocations and frees from now on as the API servers', in
/// [`server_heap_bytes`] (for `tokio::runtime::Builder::on_thread_start` of the runtime
/// that serves the simulated clusters).
pub fn count_thread_as_server() {
    let _ = SHARD.try_with(|shard| {
        shard.set(SHARDS + NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS);
    });
}

/// Set (to anything) in the environment, the allocator forwards to the system's malloc instead
/// of mimalloc, so that heap profilers which hook malloc (heaptrack) see every allocation.
pub const SYSTEM_ALLOC_ENV: &std::ffi::CStr = c"KUBEFED_SIM_SYSTEM_ALLOC";

const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;
static BACKEND: AtomicU8 = AtomicU8::new(UNDECIDED);

/// Whether to forward to the system allocator: decided at the process's first allocation,
/// before anything could change the environment, and never again (a block must be freed by
/// the allocator that gave it out).
fn system() -> bool {
    match BACKEND.load(Ordering::Relaxed) {
        UNDECIDED => {
            // SAFETY: a NUL-terminated name; getenv allocates nothing.
            let set = unsafe { !libc::getenv(SYSTEM_ALLOC_ENV.as_ptr()).is_null() };
            BACKEND.store(if set { SYSTEM } else { MIMALLOC }, Ordering::Relaxed);
            set
        }
        backend => backend == SYSTEM,
    }
}

/// mimalloc (or the system allocator, see [`SYSTEM_ALLOC_ENV`]), counting live heap bytes;
/// benchmarks install it to measure the simulator's storage exactly, apart from allocator
/// fragmentation.
pub struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to mimalloc or, for the whole process, the system
// allocator.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        shard().fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe {
            if system() {
                System.alloc(layout)
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shard().fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe {
            if system() {
                System.dealloc(ptr, layout)
            } else {
                MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        shard().fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe {
            if system() {
                System.realloc(ptr, layout, new_size)
            } else {
                MiMalloc.realloc(ptr, layout, new_size)
            }
        }
    }
}

/// Live heap bytes of the whole process, when [`CountingAlloc`] is the global allocator (0
/// otherwise).
pub fn heap_bytes() -> i64 {
    sum(&LIVE_HEAP)
}

/// The part of [`heap_bytes`] allocated, net of frees, by threads that
/// [`count_thread_as_server`].
pub fn server_heap_bytes() -> i64 {
    sum(&LIVE_HEAP[SHARDS..])
}

fn sum(shards: &[Shard]) -> i64 {
    shards
        .iter()
        .map(|shard| shard.0.load(Ordering::Relaxed))
        .sum()
}
