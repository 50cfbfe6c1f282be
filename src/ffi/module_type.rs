//! A module data type: the value type `T` behind it implements `TypeMethods`
//! (safe functions named after their TypeMethods field), and this file adapts
//! Redis's C callbacks to them. Every callback runs inside `guarded`: a bug
//! must never unwind into Redis.

use std::ffi::{c_int, c_void, CStr};
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::context::Context;
use super::heap::{Defrag, HeapSizes};
use super::io::{AofWriter, Digest, KeyPlace, RdbReader, RdbWriter};
use super::log::{guarded, log_warning};
use super::raw;
use super::string::RedisStr;

/// What Redis needs to store, persist and account for values of a type.
pub trait TypeMethods: Sized + 'static {
    /// `None` rejects the payload (a corrupt RDB or RESTORE fails to load).
    fn rdb_load(rdb: &mut RdbReader, encoding_version: i32) -> Option<Self>;
    fn rdb_save(&self, rdb: &mut RdbWriter);
    fn aof_rewrite(&self, aof: &mut AofWriter);
    /// Bytes the value holds in heap blocks, as `heap` measures them,
    /// besides the block the value itself lives in (counted by this layer).
    fn mem_usage(&self, heap: &HeapSizes) -> usize;
    fn digest(&self, digest: &mut Digest);
    /// A deep copy for COPY, to the key at `to` where the server says
    /// (Redis 7.0+ and Valkey).
    fn copy(&self, to: Option<&KeyPlace>) -> Self;
    /// Roughly how many allocations freeing the value releases; Redis frees
    /// values above a small threshold on a background thread.
    fn free_effort(&self) -> usize;
    /// Offers the value's heap blocks to active defragmentation, besides the
    /// block the value itself lives in (moved by this layer), starting at
    /// `from`, a position an earlier call returned (0 at first). Returns
    /// where to resume when `defrag.should_stop()` cut the work short. The
    /// value may have changed since the call that returned `from`.
    fn defrag(&mut self, defrag: &mut Defrag, from: usize) -> Option<usize>;
    /// An empty value must not stay in the keyspace: a write that leaves one
    /// behind deletes its key.
    fn is_empty(&self) -> bool;

    /// Running totals over every value in the keyspace (what INFO reports)
    /// stay exact through these three calls; each adds or takes away the
    /// value's share as it is at the time. This layer calls `counted` when a
    /// value enters the keyspace (loaded, copied, or created by a write) and
    /// again after every write to it, and `uncounted` before every write to
    /// it, so a write changes the totals by what it changed. Both run under
    /// the server's lock (on the main thread, or a thread holding the GIL),
    /// never two at once, so they need no atomic read-modify-write.
    fn counted(&self);
    fn uncounted(&self);
    /// The value is being freed: it leaves the totals. Redis frees big values
    /// on a background thread (UNLINK, FLUSHALL ASYNC, lazy expiry and
    /// eviction), so this may run on any thread, at the same time as any of
    /// these three calls.
    fn freed(&self);
}

/// The registered data type whose values are `T`: keys check a value's type
/// against it before lending the value out as a `T`.
pub struct DataType<T> {
    raw: AtomicPtr<raw::RedisModuleType>,
    _values: PhantomData<fn() -> T>,
}

impl<T: TypeMethods> DataType<T> {
    pub const fn new() -> DataType<T> {
        DataType {
            raw: AtomicPtr::new(ptr::null_mut()),
            _values: PhantomData,
        }
    }

    /// Null until registered.
    pub(super) fn as_ptr(&self) -> *mut raw::RedisModuleType {
        self.raw.load(Ordering::Relaxed)
    }

    /// Creates the data type; Redis keeps its own copy of the method table.
    pub fn register(
        &'static self,
        ctx: &Context,
        name: &CStr,
        encoding_version: i32,
    ) -> Result<(), String> {
        if !self.as_ptr().is_null() {
            return Err(format!("data type {name:?} is already registered"));
        }
        let mut methods = raw::RedisModuleTypeMethods {
            version: u64::from(raw::REDISMODULE_TYPE_METHOD_VERSION.unsigned_abs()),
            rdb_load: Some(rdb_load::<T>),
            rdb_save: Some(rdb_save::<T>),
            aof_rewrite: Some(aof_rewrite::<T>),
            mem_usage: Some(mem_usage::<T>),
            digest: Some(digest::<T>),
            free: Some(free::<T>),
            free_effort: Some(free_effort::<T>),
            copy: Some(copy::<T>),
            copy2: if copy_destination_api_present() {
                Some(copy_to::<T>)
            } else {
                None
            },
            defrag: if defrag_api_present() {
                Some(defrag::<T>)
            } else {
                None
            },
            ..Default::default()
        };
        // SAFETY: the load context is live; name and methods outlive the call.
        let created = unsafe {
            api!(RedisModule_CreateDataType)(
                ctx.as_ptr(),
                name.as_ptr(),
                encoding_version,
                &mut methods,
            )
        };
        if created.is_null() {
            return Err(format!("could not register data type {name:?}"));
        }
        self.raw.store(created, Ordering::Relaxed);
        Ok(())
    }
}

/// Whether the server tells `rdb_load` (`RdbReader::key_place`) and `copy`
/// which key they fill (Redis 7.0+, Valkey), so nothing else need say it.
pub(super) fn type_callbacks_name_their_key() -> bool {
    // SAFETY: reading pointers the shim has finished writing.
    let loader_names_its_key = unsafe {
        { raw::RedisModule_GetKeyNameFromIO }.is_some() && { raw::RedisModule_GetDbIdFromIO }
            .is_some()
    };
    loader_names_its_key && copy_destination_api_present()
}

/// Whether the server can say where a COPY goes (Redis 7.0+, Valkey).
fn copy_destination_api_present() -> bool {
    // SAFETY: reading pointers the shim has finished writing.
    unsafe {
        { raw::RedisModule_GetToKeyNameFromOptCtx }.is_some() && {
            raw::RedisModule_GetToDbIdFromOptCtx
        }
        .is_some()
    }
}

/// Whether the server has every call the defrag callback makes (Redis 6.2+
/// and Valkey export them all; without them the type simply opts out).
fn defrag_api_present() -> bool {
    // SAFETY: reading pointers the shim has finished writing.
    unsafe {
        { raw::RedisModule_DefragAlloc }.is_some()
            && { raw::RedisModule_DefragShouldStop }.is_some()
            && { raw::RedisModule_DefragCursorGet }.is_some()
            && { raw::RedisModule_DefragCursorSet }.is_some()
    }
}

/// Hands a new value to Redis, which gives it back to `free::<T>`.
pub(super) fn into_raw<T>(value: T) -> *mut c_void {
    Box::into_raw(Box::new(value)).cast()
}

/// # Safety
/// `value` must be a value of a `DataType<T>`, i.e. from `into_raw::<T>`, and
/// stay alive and unchanged for `'a`.
pub(super) unsafe fn borrow<'a, T>(value: *const c_void) -> &'a T {
    // SAFETY: forwarded from the caller.
    unsafe { &*value.cast::<T>() }
}

/// # Safety
/// As `borrow`, and no other reference to the value may exist for `'a`.
unsafe fn borrow_mut<'a, T>(value: *mut c_void) -> &'a mut T {
    // SAFETY: forwarded from the caller.
    unsafe { &mut *value.cast::<T>() }
}

extern "C" fn rdb_load<T: TypeMethods>(io: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    // SAFETY: Redis passes the live IO handle of this load, and loading set
    // HANDLE_IO_ERRORS before registering any type.
    let Some(mut reader) = (unsafe { RdbReader::from_raw(io) }) else {
        return ptr::null_mut();
    };
    // Only a value handed to Redis counts: one the loader refused never
    // enters the keyspace. Redis frees, through `free`, any value it takes
    // and then drops (an expired key in an RDB, a missing EOF marker).
    guarded("rdb_load", || {
        let value = T::rdb_load(&mut reader, encver)?;
        value.counted();
        Some(value)
    })
    .flatten()
    .map_or(ptr::null_mut(), into_raw)
}

/// A panic half way through a value must not leave a truncated value that
/// reads as a whole one. In a fork child (BGSAVE, full sync, AOF rewrite with
/// a preamble) the child exits with an error: the save fails and the previous
/// file stays. In the main process (SAVE, DEBUG RELOAD, DUMP, MIGRATE) the
/// value is ended with an item no loader here reads, so loading it fails.
extern "C" fn rdb_save<T: TypeMethods>(io: *mut raw::RedisModuleIO, value: *mut c_void) {
    // SAFETY: Redis passes the live IO handle of this save.
    let Some(mut writer) = (unsafe { RdbWriter::from_raw(io) }) else {
        return;
    };
    // SAFETY: Redis passes one of our values.
    let map = unsafe { borrow::<T>(value) };
    let saved = guarded("rdb_save", || map.rdb_save(&mut writer));
    if saved.is_none() {
        if writer.in_fork_child() {
            exit_fork_child("the RDB being written would hold an incomplete value");
        }
        writer.poison();
        log_warning(
            ptr::null_mut(),
            "multimap: a value was saved incomplete (RDB, DUMP or MIGRATE payload); \
             it ends with a marker that makes loading it fail",
        );
    }
}

extern "C" fn aof_rewrite<T: TypeMethods>(
    io: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    // SAFETY: Redis passes the live IO handle and the key name of this rewrite.
    let Some(mut writer) = (unsafe { AofWriter::from_raw(io, key) }) else {
        return;
    };
    // SAFETY: Redis passes one of our values.
    let map = unsafe { borrow::<T>(value) };
    let written = guarded("aof_rewrite", || map.aof_rewrite(&mut writer));
    if written.is_none() {
        // Redis rewrites the AOF only in a fork child.
        if writer.in_fork_child() {
            exit_fork_child(
                "the rewritten AOF, or the snapshot of slots being migrated, would miss part of a key",
            );
        }
        log_warning(
            ptr::null_mut(),
            "multimap: the AOF being rewritten misses part of a key",
        );
    }
}

/// Ends a fork child with an error status, which the parent logs as a failed
/// save, rewrite or slot migration while keeping what it had (the previous
/// file; the slots, on the source).
fn exit_fork_child(consequence: &str) -> ! {
    log_warning(
        ptr::null_mut(),
        &format!(
            "multimap: {consequence}; the child process exits so the server keeps what it had"
        ),
    );
    // SAFETY: only called in a fork child, which Redis lets a module end
    // (ExitFromChild where the server has it, else a plain _exit that skips
    // the parent's atexit handlers as Redis's own children do).
    unsafe {
        if let Some(exit_from_child) = raw::RedisModule_ExitFromChild {
            exit_from_child(1);
        }
        libc::_exit(1)
    }
}

extern "C" fn mem_usage<T: TypeMethods>(value: *const c_void) -> usize {
    let heap = HeapSizes::new();
    // SAFETY: Redis passes one of our values, boxed by `into_raw::<T>`.
    let (map, own_block) = unsafe { (borrow::<T>(value), heap.of_boxed(value.cast::<T>())) };
    guarded("mem_usage", || own_block + map.mem_usage(&heap)).unwrap_or(own_block)
}

/// Redis calls this for each key of the type while it defragments, and again
/// for a big key (`free_effort` above `active-defrag-max-scan-fields`) until
/// it returns 0, in calls timed by `DefragShouldStop` that keep their place in
/// the defrag cursor. A call that does not resume one first moves the block
/// the value lives in.
extern "C" fn defrag<T: TypeMethods>(
    ctx: *mut raw::RedisModuleDefragCtx,
    _key: *mut raw::RedisModuleString,
    value: *mut *mut c_void,
) -> c_int {
    // SAFETY: Redis passes the live context of this defrag call.
    let Some(mut defrag) = (unsafe { Defrag::from_raw(ctx) }) else {
        return 0;
    };
    if value.is_null() {
        return 0;
    }
    let resume = defrag.resume_point();
    if resume.is_none() {
        // SAFETY: `*value` is one of our values and Redis refers to it through
        // `*value` alone, which is updated if it moves.
        unsafe { defrag.boxed::<T>(value) };
    }
    // SAFETY: Redis passes one of our values; nothing else uses it meanwhile.
    let map = unsafe { borrow_mut::<T>(*value) };
    let stopped_at = guarded("defrag", || map.defrag(&mut defrag, resume.unwrap_or(0)));
    match stopped_at {
        Some(Some(position)) if defrag.save_resume_point(position) => 1,
        _ => 0,
    }
}

extern "C" fn digest<T: TypeMethods>(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    // SAFETY: Redis passes the live digest of this call.
    let Some(mut digest) = (unsafe { Digest::from_raw(md) }) else {
        return;
    };
    // SAFETY: Redis passes one of our values.
    let map = unsafe { borrow::<T>(value) };
    guarded("digest", || map.digest(&mut digest));
}

extern "C" fn copy<T: TypeMethods>(
    _from_key: *mut raw::RedisModuleString,
    _to_key: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    // SAFETY: Redis passes one of our values.
    let map = unsafe { borrow::<T>(value) };
    guarded("copy", || {
        let copied = map.copy(None);
        copied.counted();
        into_raw(copied)
    })
    // Redis answers COPY with an error when the copy is null.
    .unwrap_or(ptr::null_mut())
}

/// COPY where the server says where the copy goes (the server prefers this
/// callback to `copy` when both are given).
extern "C" fn copy_to<T: TypeMethods>(
    ctx: *mut raw::RedisModuleKeyOptCtx,
    value: *const c_void,
) -> *mut c_void {
    // SAFETY: Redis passes one of our values.
    let map = unsafe { borrow::<T>(value) };
    // SAFETY: the option context is live for this call, and the two calls
    // exist (`copy_destination_api_present`); the name lives as long.
    let to = unsafe {
        let name = api!(RedisModule_GetToKeyNameFromOptCtx)(ctx);
        let db = api!(RedisModule_GetToDbIdFromOptCtx)(ctx);
        RedisStr::from_raw(name.cast_mut()).map(|name| KeyPlace {
            db,
            name: name.to_bytes(),
        })
    };
    guarded("copy", || {
        let copied = map.copy(to.as_ref());
        copied.counted();
        into_raw(copied)
    })
    .unwrap_or(ptr::null_mut())
}

extern "C" fn free_effort<T: TypeMethods>(
    _key: *mut raw::RedisModuleString,
    value: *const c_void,
) -> usize {
    // SAFETY: Redis passes one of our values.
    let map = unsafe { borrow::<T>(value) };
    guarded("free_effort", || map.free_effort())
        // A value too big to judge is best freed off the main thread; Redis reads 0 that way too.
        .unwrap_or(0)
}

extern "C" fn free<T: TypeMethods>(value: *mut c_void) {
    if value.is_null() {
        return;
    }
    // SAFETY: Redis hands back ownership of a value from `into_raw::<T>`.
    let owned = unsafe { Box::from_raw(value.cast::<T>()) };
    guarded("free", || {
        owned.freed();
        drop(owned);
    });
}
