//! Routes every Rust allocation of the loaded module through
//! `RedisModule_Alloc`/`RedisModule_Free`, so Redis's `used_memory`,
//! `maxmemory` and eviction account for MultiMap data like their own.
//!
//! Outside Redis (unit tests, benches and tools linking the rlib) the API
//! pointers are never resolved, so the allocator falls back to the system one.
//! Inside Redis the shim resolves them before any Rust code runs, so one process
//! never mixes the two.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::ptr;

use super::raw;

/// Alignment every Redis allocation is known to have: zmalloc may place an
/// 8-byte size prefix in front of the block, so 16 is not guaranteed.
const NATIVE_ALIGN: usize = 8;

pub struct RedisAllocator;

#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: RedisAllocator = RedisAllocator;

type AllocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);

fn redis_alloc_api() -> Option<(AllocFn, FreeFn)> {
    // SAFETY: the pointers are written once, by the shim, before any Rust code
    // runs and before any other thread exists; afterwards they are only read.
    unsafe { raw::RedisModule_Alloc.zip(raw::RedisModule_Free) }
}

/// The bytes the server's allocator makes usable of a request of `bytes`,
/// which tell how it rounds requests; `None` outside Redis.
pub fn usable_size(bytes: usize) -> Option<usize> {
    let (alloc, free) = redis_alloc_api()?;
    // SAFETY: as in `redis_alloc_api`: written once before any Rust code runs.
    let malloc_size = unsafe { raw::RedisModule_MallocSize }?;
    // SAFETY: a live block from RedisModule_Alloc is asked its size, then
    // freed once with the matching RedisModule_Free.
    unsafe {
        let block = alloc(bytes);
        if block.is_null() {
            return None;
        }
        let usable = malloc_size(block);
        free(block);
        Some(usable)
    }
}

/// Places an over-aligned block inside a larger native one; the word just before
/// the returned pointer remembers where the native block starts.
///
/// # Safety
/// `alloc` must return blocks aligned to `NATIVE_ALIGN` or null.
unsafe fn alloc_over_aligned(layout: Layout, alloc: AllocFn) -> *mut u8 {
    let align = layout.align().max(NATIVE_ALIGN);
    let Some(total) = layout.size().checked_add(align) else {
        return ptr::null_mut();
    };
    // SAFETY: `alloc` is Redis's allocator, callable with any size.
    let base = unsafe { alloc(total) }.cast::<u8>();
    if base.is_null() {
        return base;
    }
    // `base` is NATIVE_ALIGN-aligned, so rounding `base + 1 word` up to `align`
    // stays within `base + align`, leaving `layout.size()` bytes after it.
    let header = std::mem::size_of::<usize>();
    let aligned_addr = (base as usize + header).next_multiple_of(align);
    let offset = aligned_addr - base as usize;
    // SAFETY: header <= offset <= align < total, so both the aligned pointer and
    // the word before it lie inside the block just allocated.
    unsafe {
        let aligned = base.add(offset);
        aligned.cast::<*mut u8>().sub(1).write_unaligned(base);
        aligned
    }
}

/// Whether blocks of this alignment are Redis's blocks as they are, starting
/// where the pointer the allocator returned does; larger alignments sit inside
/// a native block (see `alloc_over_aligned`).
pub(super) const fn is_native_alignment(align: usize) -> bool {
    align <= NATIVE_ALIGN
}

/// Bytes `used_memory` counts for the block behind `ptr`, which this
/// allocator returned for a layout of alignment `align` and a non-zero size.
///
/// # Safety
/// `ptr` must be such a block, still live, allocated inside Redis (the API
/// pointers were resolved, as they are in every callback Redis makes).
pub(super) unsafe fn allocated_size(ptr: *const u8, align: usize) -> usize {
    let block = if is_native_alignment(align) {
        ptr
    } else {
        // SAFETY: alloc_over_aligned stored the native block's start right before `ptr`.
        unsafe { ptr.cast::<*const u8>().sub(1).read_unaligned() }
    };
    // SAFETY: `block` is the start of a live block from RedisModule_Alloc.
    unsafe { api!(RedisModule_MallocSize)(block.cast_mut().cast()) }
}

/// # Safety
/// `ptr` must come from `alloc_over_aligned` with the same `free`'s allocator.
unsafe fn free_over_aligned(ptr: *mut u8, free: FreeFn) {
    // SAFETY: alloc_over_aligned stored the native block's start right before `ptr`.
    unsafe {
        let base = ptr.cast::<*mut u8>().sub(1).read_unaligned();
        free(base.cast());
    }
}

// SAFETY: every path returns either null or a block of at least `layout.size()`
// bytes aligned to `layout.align()`, and frees with the allocator that made it.
unsafe impl GlobalAlloc for RedisAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((alloc, _)) = redis_alloc_api() else {
            // SAFETY: forwarded with the caller's own guarantees.
            return unsafe { System.alloc(layout) };
        };
        if layout.align() <= NATIVE_ALIGN {
            // SAFETY: Redis's allocator accepts any non-zero size.
            unsafe { alloc(layout.size()).cast() }
        } else {
            // SAFETY: Redis's allocator returns NATIVE_ALIGN-aligned blocks.
            unsafe { alloc_over_aligned(layout, alloc) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let calloc = redis_alloc_api().and({
            // SAFETY: see redis_alloc_api.
            unsafe { raw::RedisModule_Calloc }
        });
        match calloc {
            // SAFETY: calloc returns zeroed, NATIVE_ALIGN-aligned memory.
            Some(calloc) if layout.align() <= NATIVE_ALIGN => unsafe {
                calloc(1, layout.size()).cast()
            },
            _ => {
                // SAFETY: forwarded with the caller's own guarantees.
                let ptr = unsafe { self.alloc(layout) };
                if !ptr.is_null() {
                    // SAFETY: `ptr` has room for `layout.size()` bytes.
                    unsafe { ptr.write_bytes(0, layout.size()) };
                }
                ptr
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((_, free)) = redis_alloc_api() else {
            // SAFETY: without Redis every block came from System.
            return unsafe { System.dealloc(ptr, layout) };
        };
        if layout.align() <= NATIVE_ALIGN {
            // SAFETY: the block came straight from RedisModule_Alloc.
            unsafe { free(ptr.cast()) }
        } else {
            // SAFETY: over-aligned blocks come from alloc_over_aligned.
            unsafe { free_over_aligned(ptr, free) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(realloc) = redis_alloc_api().and({
            // SAFETY: see redis_alloc_api.
            unsafe { raw::RedisModule_Realloc }
        }) else {
            // SAFETY: forwarded with the caller's own guarantees.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        if layout.align() <= NATIVE_ALIGN {
            // SAFETY: the block came straight from RedisModule_Alloc.
            return unsafe { realloc(ptr.cast(), new_size).cast() };
        }
        // SAFETY: the caller guarantees `new_size` is valid for `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: the new block is fresh, the old one holds `layout.size()` bytes;
        // the copy covers the smaller of the two, then the old block goes back.
        unsafe {
            let new_ptr = self.alloc(new_layout);
            if !new_ptr.is_null() {
                ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new_ptr
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_aligned_blocks_are_aligned_and_fully_usable() {
        for align in [16, 32, 64, 4096] {
            for size in [1, 7, 8, 100, 10_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: libc's malloc returns blocks aligned to at least
                // NATIVE_ALIGN, as Redis's does; the block is freed by its twin.
                unsafe {
                    let ptr = alloc_over_aligned(layout, libc::malloc);
                    assert!(!ptr.is_null());
                    assert_eq!(ptr as usize % align, 0, "size {size} align {align}");
                    ptr.write_bytes(0xab, size);
                    free_over_aligned(ptr, libc::free);
                }
            }
        }
    }

    #[test]
    fn outside_redis_the_system_allocator_serves_every_layout() {
        for (size, align) in [(1, 1), (24, 8), (3, 64)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a non-zero layout, freed with the same allocator and layout.
            unsafe {
                let ptr = RedisAllocator.alloc_zeroed(layout);
                assert!(!ptr.is_null());
                assert_eq!(ptr as usize % align, 0);
                assert!(std::slice::from_raw_parts(ptr, size)
                    .iter()
                    .all(|&b| b == 0));
                let grown = RedisAllocator.realloc(ptr, layout, size * 4);
                assert_eq!(grown as usize % align, 0);
                RedisAllocator.dealloc(grown, Layout::from_size_align(size * 4, align).unwrap());
            }
        }
    }
}
