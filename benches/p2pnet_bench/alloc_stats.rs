//! A global allocator that, when switched on, keeps the live heap bytes and the number of
//! live allocations per size class. The connection-scale figure diffs two snapshots to
//! show what one peer allocates, which RSS alone cannot say.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

/// Allocation sizes are grouped in 16-byte steps up to this size; larger ones share
/// the last class.
pub const CLASS_STEP: usize = 16;
pub const CLASSES: usize = 8192;

static ENABLED: AtomicBool = AtomicBool::new(false);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BY_CLASS: [AtomicI64; CLASSES] = [const { AtomicI64::new(0) }; CLASSES];
/// Bytes of the allocations in the last (open-ended) class.
static LIVE_LARGE_BYTES: AtomicI64 = AtomicI64::new(0);

/// Size classes whose next allocations print a backtrace (zero: unused slot), and how
/// many backtraces each has left. Set from `P2PNET_BENCH_TRACE_SIZES`.
const TRACE_SLOTS: usize = 8;
static TRACE_CLASS: [AtomicUsize; TRACE_SLOTS] = [const { AtomicUsize::new(0) }; TRACE_SLOTS];
static TRACE_LEFT: [AtomicUsize; TRACE_SLOTS] = [const { AtomicUsize::new(0) }; TRACE_SLOTS];
static TRACING: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread captures a backtrace, whose own allocations must not trace.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
}

pub struct CountingAllocator;

fn class_of(size: usize) -> usize {
    (size.div_ceil(CLASS_STEP)).min(CLASSES - 1)
}

fn trace(size: usize) {
    let class = class_of(size);
    for slot in 0..TRACE_SLOTS {
        if TRACE_CLASS[slot].load(Ordering::Relaxed) != class {
            continue;
        }
        let left = &TRACE_LEFT[slot];
        if left.load(Ordering::Relaxed) == 0 || CAPTURING.with(Cell::get) {
            return;
        }
        left.fetch_sub(1, Ordering::Relaxed);
        CAPTURING.with(|c| c.set(true));
        let backtrace = std::backtrace::Backtrace::force_capture();
        eprintln!(
            "allocation of {size} bytes (class ≤{} B):\n{backtrace}",
            class * CLASS_STEP
        );
        CAPTURING.with(|c| c.set(false));
        return;
    }
}

fn record(size: usize, sign: i64) {
    LIVE_BYTES.fetch_add(sign * size as i64, Ordering::Relaxed);
    let class = class_of(size);
    LIVE_BY_CLASS[class].fetch_add(sign, Ordering::Relaxed);
    if class == CLASSES - 1 {
        LIVE_LARGE_BYTES.fetch_add(sign * size as i64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// side bookkeeping that never touches the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            record(layout.size(), 1);
            if TRACING.load(Ordering::Relaxed) {
                trace(layout.size());
            }
        }
        // SAFETY: the caller's layout contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            record(layout.size(), 1);
        }
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ENABLED.load(Ordering::Relaxed) {
            record(layout.size(), -1);
        }
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            record(layout.size(), -1);
            record(new_size, 1);
        }
        // SAFETY: `ptr` came from `System` with `layout`; the caller guarantees
        // `new_size` is valid for it.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Switches counting on for the rest of the process. Memory freed afterwards that was
/// allocated before counts negative, so only differences between snapshots mean much.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// From now on, prints a backtrace for the first `per_size` allocations of each size
/// class listed (comma-separated byte sizes) in `P2PNET_BENCH_TRACE_SIZES`: how the
/// per-peer allocations in the connection-scale breakdown were attributed to code.
pub fn start_tracing(per_size: usize) {
    let Ok(list) = std::env::var("P2PNET_BENCH_TRACE_SIZES") else {
        return;
    };
    let sizes = list
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok());
    for (slot, size) in sizes.take(TRACE_SLOTS).enumerate() {
        TRACE_CLASS[slot].store(class_of(size), Ordering::Relaxed);
        TRACE_LEFT[slot].store(per_size, Ordering::Relaxed);
    }
    TRACING.store(true, Ordering::Relaxed);
}

/// Live heap state at one moment.
pub struct Snapshot {
    pub live_bytes: i64,
    pub by_class: Vec<i64>,
    pub large_bytes: i64,
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        live_bytes: LIVE_BYTES.load(Ordering::Relaxed),
        by_class: LIVE_BY_CLASS
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect(),
        large_bytes: LIVE_LARGE_BYTES.load(Ordering::Relaxed),
    }
}

/// One size class's growth between two snapshots.
pub struct ClassGrowth {
    /// Upper bound of the class in bytes (allocations of `size - 15 ..= size`).
    pub size: usize,
    pub allocations: i64,
    pub bytes: i64,
}

/// The size classes that grew most in bytes between `before` and `after`, largest first.
pub fn growth(before: &Snapshot, after: &Snapshot, top: usize) -> Vec<ClassGrowth> {
    let mut rows: Vec<ClassGrowth> = (1..CLASSES)
        .filter_map(|class| {
            let allocations = after.by_class[class] - before.by_class[class];
            if allocations <= 0 {
                return None;
            }
            let bytes = if class == CLASSES - 1 {
                after.large_bytes - before.large_bytes
            } else {
                allocations * (class * CLASS_STEP) as i64
            };
            Some(ClassGrowth {
                size: class * CLASS_STEP,
                allocations,
                bytes,
            })
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.bytes));
    rows.truncate(top);
    rows
}
