//! What the allocator knows about the module's own heap blocks: how many
//! bytes each really takes (for MEMORY USAGE), and moving them to where the
//! allocator would rather have them (active defragmentation).
//!
//! Both only exist inside a type callback, where every block came from
//! `RedisModule_Alloc` through the global allocator (see `alloc`).

use std::ffi::{c_int, c_ulong, c_void};
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::ptr::NonNull;

use super::alloc::{allocated_size, is_native_alignment};
use super::raw;

/// Measures heap blocks as `used_memory` counts them: the allocator's real
/// block size, whatever the allocator (jemalloc size classes, glibc chunks,
/// zmalloc's size prefix on other libcs).
pub struct HeapSizes {
    /// Only made by the callbacks of this module, inside Redis.
    _inside_redis: (),
}

impl HeapSizes {
    pub(super) fn new() -> HeapSizes {
        HeapSizes { _inside_redis: () }
    }

    /// Bytes the heap block holding `vec`'s elements takes; none when it has
    /// no block (no capacity, or zero-sized elements).
    pub fn of_vec<T>(&self, vec: &Vec<T>) -> usize {
        if vec.capacity() == 0 || size_of::<T>() == 0 {
            return 0;
        }
        // SAFETY: a Vec with capacity and sized elements points at the start
        // of a live block the global allocator made for alignment
        // align_of::<T>(); inside Redis that allocator is Redis's.
        unsafe { allocated_size(vec.as_ptr().cast(), align_of::<T>()) }
    }

    /// Bytes the heap block holding a boxed slice's elements takes; none when
    /// it has no block (empty, or zero-sized elements).
    // The owning box, not a slice: only its pointer is known to start a block.
    #[allow(clippy::borrowed_box)]
    pub fn of_boxed_slice<T>(&self, slice: &Box<[T]>) -> usize {
        if slice.is_empty() || size_of::<T>() == 0 {
            return 0;
        }
        // SAFETY: a non-empty box of sized elements points at the start of a
        // live block the global allocator made for alignment align_of::<T>().
        unsafe { allocated_size(slice.as_ptr().cast(), align_of::<T>()) }
    }

    /// Bytes the block a value of type `T` lives in takes.
    ///
    /// # Safety
    /// `value` must come from `Box::<T>::into_raw` and still be live.
    pub(super) unsafe fn of_boxed<T>(&self, value: *const T) -> usize {
        if size_of::<T>() == 0 {
            return 0;
        }
        // SAFETY: a Box of a sized T is a live block made for align_of::<T>().
        unsafe { allocated_size(value.cast(), align_of::<T>()) }
    }
}

/// One call of a data type's defrag callback: offers heap blocks to the
/// allocator, which moves those sitting in sparsely used memory, and tells
/// when the time this call may take is up.
pub struct Defrag<'a> {
    raw: NonNull<raw::RedisModuleDefragCtx>,
    _call: PhantomData<&'a mut raw::RedisModuleDefragCtx>,
}

impl Defrag<'_> {
    /// # Safety
    /// `ctx` must be the live context of the defrag callback in progress.
    pub(super) unsafe fn from_raw<'a>(ctx: *mut raw::RedisModuleDefragCtx) -> Option<Defrag<'a>> {
        NonNull::new(ctx).map(|raw| Defrag {
            raw,
            _call: PhantomData,
        })
    }

    /// Moves the heap block holding `vec`'s elements if the allocator would
    /// rather have it elsewhere; the elements and capacity stay the same.
    /// Blocks of over-aligned elements stay where they are: they sit inside a
    /// larger native block, which the allocator would move to a place aligned
    /// differently.
    pub fn vec<T>(&mut self, vec: &mut Vec<T>) {
        if vec.capacity() == 0 || size_of::<T>() == 0 || !is_native_alignment(align_of::<T>()) {
            return;
        }
        // SAFETY: the pointer is the start of a live native block that Redis
        // allocated (see HeapSizes::of_vec), owned by `vec` alone.
        let moved = unsafe { self.move_block(vec.as_mut_ptr().cast()) };
        let Some(moved) = moved else {
            return;
        };
        let (len, capacity) = (vec.len(), vec.capacity());
        // SAFETY: Redis copied the whole block, at least `capacity` elements,
        // to `moved`, a block of the same size and the native alignment from
        // its own allocator, which the global allocator frees blocks to
        // (RedisModule_Free); the old block is freed already, and the old Vec
        // is forgotten so nothing frees it twice.
        let rebuilt = unsafe { Vec::from_raw_parts(moved.cast::<T>().as_ptr(), len, capacity) };
        std::mem::forget(std::mem::replace(vec, rebuilt));
    }

    /// Moves the block a value of type `T` lives in, updating `*value`.
    ///
    /// # Safety
    /// `*value` must come from `Box::<T>::into_raw`, be live, and be
    /// referred to by `*value` alone.
    pub(super) unsafe fn boxed<T>(&mut self, value: *mut *mut c_void) {
        if size_of::<T>() == 0 || !is_native_alignment(align_of::<T>()) {
            return;
        }
        // SAFETY: forwarded from the caller: the box is a live native block.
        if let Some(moved) = unsafe { self.move_block((*value).cast()) } {
            // SAFETY: the value now lives at `moved`; its only reference is updated.
            unsafe { *value = moved.as_ptr().cast() };
        }
    }

    /// # Safety
    /// `block` must be the start of a live block from `RedisModule_Alloc`,
    /// which the caller stops using if it moved.
    unsafe fn move_block(&mut self, block: *mut c_void) -> Option<NonNull<u8>> {
        // SAFETY: the context is live; forwarded from the caller for `block`.
        let moved = unsafe { api!(RedisModule_DefragAlloc)(self.raw.as_ptr(), block) };
        NonNull::new(moved.cast())
    }

    /// Whether this call has used up its time: the callback should save where
    /// it is and return. Only calls that may resume later are timed.
    pub fn should_stop(&self) -> bool {
        // SAFETY: the context is live for this call.
        unsafe { api!(RedisModule_DefragShouldStop)(self.raw.as_ptr()) != 0 }
    }

    /// Where an earlier call on the same key stopped, if this call resumes one.
    pub(super) fn resume_point(&self) -> Option<usize> {
        let mut cursor: c_ulong = 0;
        // SAFETY: the context is live; the cursor is a valid out-pointer.
        let status = unsafe { api!(RedisModule_DefragCursorGet)(self.raw.as_ptr(), &mut cursor) };
        // The server ends a key's late defrag when a call leaves the cursor
        // at 0, so saved points are one past the position.
        if status != raw::REDISMODULE_OK || cursor == 0 {
            return None;
        }
        usize::try_from(cursor - 1).ok()
    }

    /// Saves where the next call on this key resumes; false when this call
    /// cannot be resumed (it was not timed) and the work stops here.
    pub(super) fn save_resume_point(&mut self, position: usize) -> bool {
        let Some(cursor) = c_ulong::try_from(position)
            .ok()
            .and_then(|position| position.checked_add(1))
        else {
            return false;
        };
        // SAFETY: the context is live for this call.
        let status: c_int = unsafe { api!(RedisModule_DefragCursorSet)(self.raw.as_ptr(), cursor) };
        status == raw::REDISMODULE_OK
    }
}
