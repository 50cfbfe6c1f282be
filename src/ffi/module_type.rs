//! Registers the MultiMap data type and adapts Redis's type callbacks to the
//! safe functions in `crate::datatype`. Every callback runs inside
//! `catch_unwind`: a bug must never unwind into Redis.

use std::ffi::{c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::context::{log, Context};
use super::io::{AofWriter, Digest, RdbReader, RdbWriter};
use super::raw;
use crate::multimap::MultiMap;
use crate::{datatype, rdb};

static MULTIMAP_TYPE: AtomicPtr<raw::RedisModuleType> = AtomicPtr::new(ptr::null_mut());

/// Our type's handle, to tell our keys from other modules' keys.
pub(crate) fn multimap_type() -> *mut raw::RedisModuleType {
    MULTIMAP_TYPE.load(Ordering::Relaxed)
}

/// Runs a callback body, logging instead of unwinding on a panic.
fn guarded<T>(callback: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        log(
            ptr::null_mut(),
            &format!(
                "multimap: {callback} aborted by a bug: {}",
                super::command::panic_text(&*panic)
            ),
        );
        fallback
    })
}

/// # Safety
/// `value` must be a pointer our type stored: a live `Box<MultiMap>`.
unsafe fn borrow<'a>(value: *const c_void) -> &'a MultiMap {
    // SAFETY: forwarded from the caller.
    unsafe { &*value.cast::<MultiMap>() }
}

extern "C" fn rdb_load(io: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    guarded("rdb_load", ptr::null_mut(), || {
        // SAFETY: Redis passes the live IO handle of this load, and on_load set
        // HANDLE_IO_ERRORS before registering the type.
        let Some(mut reader) = (unsafe { RdbReader::from_raw(io) }) else {
            return ptr::null_mut();
        };
        match rdb::load(&mut reader, encver) {
            Some(map) => Box::into_raw(Box::new(map)).cast(),
            None => ptr::null_mut(),
        }
    })
}

extern "C" fn rdb_save(io: *mut raw::RedisModuleIO, value: *mut c_void) {
    guarded("rdb_save", (), || {
        // SAFETY: Redis passes the live IO handle and one of our values.
        let (Some(mut writer), map) = (unsafe { (RdbWriter::from_raw(io), borrow(value)) }) else {
            return;
        };
        rdb::save(map, &mut writer);
    })
}

extern "C" fn aof_rewrite(
    io: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    guarded("aof_rewrite", (), || {
        // SAFETY: Redis passes the live IO handle, the key name and one of our values.
        let (Some(mut writer), map) = (unsafe { (AofWriter::from_raw(io, key), borrow(value)) })
        else {
            return;
        };
        datatype::aof_rewrite(map, &mut writer);
    })
}

extern "C" fn mem_usage(value: *const c_void) -> usize {
    guarded("mem_usage", 0, || {
        // SAFETY: Redis passes one of our values.
        let map = unsafe { borrow(value) };
        datatype::mem_usage(map)
    })
}

extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    guarded("digest", (), || {
        // SAFETY: Redis passes the live digest and one of our values.
        let (Some(mut digest), map) = (unsafe { (Digest::from_raw(md), borrow(value)) }) else {
            return;
        };
        datatype::digest(map, &mut digest);
    })
}

extern "C" fn copy(
    _from_key: *mut raw::RedisModuleString,
    _to_key: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    guarded("copy", ptr::null_mut(), || {
        // SAFETY: Redis passes one of our values.
        let map = unsafe { borrow(value) };
        Box::into_raw(Box::new(datatype::copy(map))).cast()
    })
}

extern "C" fn free_effort(_key: *mut raw::RedisModuleString, value: *const c_void) -> usize {
    // A value too big to judge is best freed off the main thread; Redis reads 0 that way too.
    guarded("free_effort", 0, || {
        // SAFETY: Redis passes one of our values.
        let map = unsafe { borrow(value) };
        datatype::free_effort(map)
    })
}

extern "C" fn free(value: *mut c_void) {
    guarded("free", (), || {
        if !value.is_null() {
            // SAFETY: Redis hands back ownership of a value we boxed.
            drop(unsafe { Box::from_raw(value.cast::<MultiMap>()) });
        }
    })
}

/// Creates the data type; Redis keeps its own copy of the method table.
pub(crate) fn register(ctx: &Context, name: &CStr, encoding_version: i32) -> Result<(), String> {
    let mut methods = raw::RedisModuleTypeMethods {
        version: u64::from(raw::REDISMODULE_TYPE_METHOD_VERSION.unsigned_abs()),
        rdb_load: Some(rdb_load),
        rdb_save: Some(rdb_save),
        aof_rewrite: Some(aof_rewrite),
        mem_usage: Some(mem_usage),
        digest: Some(digest),
        free: Some(free),
        aux_load: None,
        aux_save: None,
        aux_save_triggers: 0,
        free_effort: Some(free_effort),
        unlink: None,
        copy: Some(copy),
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
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
    MULTIMAP_TYPE.store(created, Ordering::Relaxed);
    Ok(())
}
