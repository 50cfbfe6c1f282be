//! The size classes of the server's allocator (jemalloc's, with a 16- or an
//! 8-byte quantum, or glibc malloc's steps), and growing and shrinking
//! buffers in the steps it would round them to anyway. (MEMORY USAGE asks the
//! allocator itself: see `blocks`.)

#![forbid(unsafe_code)]

use std::mem::size_of;
use std::sync::atomic::{AtomicU8, Ordering};

/// How the server's allocator rounds requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rounding {
    /// jemalloc as Redis 7.0 builds it.
    Jemalloc = 0,
    /// jemalloc with an 8-byte quantum (Redis 8's build): small classes 8
    /// bytes apart up to 64.
    JemallocFineQuantum = 1,
    /// glibc malloc (Redis built with libc malloc, Valkey's wheels).
    Glibc = 2,
}

impl Rounding {
    const ALL: [Rounding; 3] = [
        Rounding::Jemalloc,
        Rounding::JemallocFineQuantum,
        Rounding::Glibc,
    ];

    /// The rounding `ROUNDING` holds (stored `as u8`).
    #[inline]
    fn from_stored(stored: u8) -> Rounding {
        Rounding::ALL
            .into_iter()
            .find(|rounding| *rounding as u8 == stored)
            .unwrap_or(Rounding::Jemalloc)
    }
}

/// Learnt once at load (see `learn_allocator_rounding`), jemalloc until then.
static ROUNDING: AtomicU8 = AtomicU8::new(Rounding::Jemalloc as u8);

/// What the allocator makes usable of these requests tells the three apart:
/// 33 and 41 bytes become 48 and 48 under jemalloc, 40 and 48 with its
/// 8-byte quantum, 40 and 56 under glibc (48- and 64-byte chunks less its
/// 8-byte header).
const PROBE_REQUESTS: [usize; 2] = [33, 41];

/// The requests `learn_allocator_rounding` wants the usable sizes of.
pub const fn allocator_probe_requests() -> [usize; 2] {
    PROBE_REQUESTS
}

/// Adopts the allocator's rounding, given what it made usable of the
/// requests of `allocator_probe_requests()`; an answer it does not know
/// keeps jemalloc's.
pub fn learn_allocator_rounding(usable: [usize; 2]) {
    let rounding = match usable {
        [40, 48] => Rounding::JemallocFineQuantum,
        [40, 56] => Rounding::Glibc,
        _ => Rounding::Jemalloc,
    };
    ROUNDING.store(rounding as u8, Ordering::Relaxed);
}

/// Heap bytes usable in one allocation of `bytes` (none when nothing is
/// allocated): the request rounded up as the server's allocator rounds it,
/// so a buffer of exactly that capacity wastes nothing.
#[inline]
pub(super) fn heap_alloc(bytes: usize) -> usize {
    match Rounding::from_stored(ROUNDING.load(Ordering::Relaxed)) {
        Rounding::JemallocFineQuantum => jemalloc_fine_class(bytes),
        Rounding::Glibc => glibc_usable(bytes),
        Rounding::Jemalloc => jemalloc_class(bytes),
    }
}

/// jemalloc with an 8-byte quantum: steps of 8 up to 64, then as with a
/// 16-byte one.
#[inline]
fn jemalloc_fine_class(bytes: usize) -> usize {
    match bytes {
        0..=64 => bytes.next_multiple_of(8),
        _ => jemalloc_class(bytes),
    }
}

/// jemalloc rounds a request up to its size class: 8, then steps of 16 up
/// to 128, then four classes per doubling.
#[inline]
fn jemalloc_class(bytes: usize) -> usize {
    match bytes {
        0 => 0,
        1..=8 => 8,
        9..=128 => bytes.next_multiple_of(16),
        _ => bytes.next_multiple_of(bytes.next_power_of_two() / 8),
    }
}

/// glibc hands out chunks of 16-byte steps (32 at least) whose first 8
/// bytes are its header. Past small sizes, buffers still grow in
/// jemalloc's geometric steps (a chunk of a class's size), so that appends
/// stay amortised O(1) rather than reallocating every 16 bytes.
#[inline]
fn glibc_usable(bytes: usize) -> usize {
    const HEADER: usize = 8;
    match bytes {
        0 => 0,
        1..=120 => (bytes + HEADER).next_multiple_of(16).max(32) - HEADER,
        _ => jemalloc_class(bytes + HEADER) - HEADER,
    }
}

/// Grows `vec` to hold `extra` more elements, straight to the size class the
/// allocator would round the request up to: the rounding costs that memory
/// anyway, and class-sized steps (a quarter of a doubling at most) keep
/// appends amortised O(1) without Vec's doubling slack.
#[inline]
pub(super) fn reserve_in_size_classes<T>(vec: &mut Vec<T>, extra: usize) {
    if vec.capacity() - vec.len() >= extra {
        return;
    }
    let element = size_of::<T>().max(1);
    let wanted = heap_alloc((vec.len() + extra) * element) / element;
    vec.reserve_exact(wanted.max(vec.len() + extra) - vec.len());
}

/// Gives back capacity beyond the size class of what `vec` holds.
#[inline]
pub(super) fn fit_to_size_class(vec: &mut Vec<u8>) {
    let class = heap_alloc(vec.len());
    if vec.capacity() > class {
        vec.shrink_to(class);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rounding_reads_back_as_stored() {
        for rounding in Rounding::ALL {
            assert_eq!(Rounding::from_stored(rounding as u8), rounding);
        }
    }

    #[test]
    fn a_fine_quantum_splits_the_small_classes() {
        let classes = [
            (1, 8),
            (9, 16),
            (33, 40),
            (41, 48),
            (57, 64),
            (65, 80),
            (129, 160),
        ];
        for (request, class) in classes {
            assert_eq!(jemalloc_fine_class(request), class, "{request}");
        }
    }

    #[test]
    fn glibc_steps_leave_its_header_room_in_whole_chunks() {
        let usable = [
            (1, 24),
            (24, 24),
            (25, 40),
            (33, 40),
            (40, 40),
            (41, 56),
            (120, 120),
        ];
        for (request, expected) in usable {
            assert_eq!(glibc_usable(request), expected, "{request}");
        }
        // Past small sizes, a chunk of a jemalloc class's size.
        assert_eq!(glibc_usable(121), 152);
        assert_eq!(glibc_usable(1815), 2040);
        assert_eq!(glibc_usable(2040), 2040);
        for request in 1..5000 {
            let chunk = glibc_usable(request) + 8;
            assert!(
                glibc_usable(request) >= request && chunk.is_multiple_of(16),
                "{request}"
            );
        }
    }

    #[test]
    fn heap_alloc_rounds_to_jemalloc_size_classes() {
        let classes = [
            (0, 0),
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (128, 128),
            (129, 160),
        ];
        for (request, class) in classes {
            assert_eq!(jemalloc_class(request), class, "{request}");
        }
        assert_eq!(jemalloc_class(200), 224);
        assert_eq!(jemalloc_class(4096), 4096);
        assert_eq!(jemalloc_class(4097), 5120);
    }

    #[test]
    fn appends_grow_a_buffer_straight_to_size_classes_in_few_steps() {
        let mut bytes: Vec<u8> = Vec::new();
        let mut reallocations = 0;
        for byte in 0..10_000u32 {
            let before = bytes.capacity();
            reserve_in_size_classes(&mut bytes, 1);
            bytes.push(byte as u8);
            if bytes.capacity() != before {
                reallocations += 1;
                assert_eq!(bytes.capacity(), heap_alloc(bytes.capacity()), "{byte}");
            }
        }
        // Four classes per doubling: about 4 * log2(10_000) steps, not one per append.
        assert!(reallocations <= 60, "{reallocations} reallocations");
    }

    #[test]
    fn reserve_counts_whole_elements_and_leaves_enough_room_alone() {
        let mut wide: Vec<[u8; 24]> = Vec::new();
        reserve_in_size_classes(&mut wide, 5);
        // 120 bytes round up to the 128-byte class, which holds 5 elements of 24.
        assert_eq!(wide.capacity(), 5);
        let mut roomy: Vec<u8> = Vec::with_capacity(100);
        reserve_in_size_classes(&mut roomy, 100);
        assert_eq!(roomy.capacity(), 100);
    }

    #[test]
    fn fit_gives_back_capacity_beyond_the_size_class_only() {
        let mut bytes = Vec::with_capacity(1000);
        bytes.extend_from_slice(&[7u8; 100]);
        fit_to_size_class(&mut bytes);
        assert!((100..=heap_alloc(100)).contains(&bytes.capacity()));
        assert_eq!(bytes, [7u8; 100]);
        let mut snug = Vec::with_capacity(100);
        snug.extend_from_slice(&[7u8; 100]);
        fit_to_size_class(&mut snug);
        assert_eq!(snug.capacity(), 100);
    }
}
