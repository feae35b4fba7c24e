//! The counting allocator's figure is the sum over threads: what one thread allocates and
//! another frees nets to zero.

use kubefed_sim::heap::{CountingAlloc, heap_bytes};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn live_bytes_are_counted_across_threads() {
    const SIZE: usize = 8 << 20;
    let before = heap_bytes();
    let block = std::thread::spawn(|| vec![1u8; SIZE]).join().unwrap();
    let held = heap_bytes() - before;
    // Other allocations of the test harness may come and go meanwhile; 8 MiB stands out.
    assert!(
        (SIZE as i64..SIZE as i64 + (1 << 20)).contains(&held),
        "{held} bytes counted for an {SIZE}-byte block"
    );
    drop(block);
    let after = heap_bytes() - before;
    assert!(
        after < 1 << 20,
        "{after} bytes still counted after the free"
    );
}
