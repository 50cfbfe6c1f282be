//! Keys opened for one command, closed on Drop. A borrowed MultiMap cannot
//! outlive the key handle it came from.

use std::marker::PhantomData;

use super::context::{Arg, Context};
use super::module_type::multimap_type;
use super::raw;
use crate::error::Error;
use crate::multimap::MultiMap;

/// A key opened read-only: reading never creates it, never marks it modified.
pub struct ReadKey<'c> {
    raw: *mut raw::RedisModuleKey,
    _ctx: PhantomData<&'c Context>,
}

/// A key opened for writing.
pub struct WriteKey<'c> {
    raw: *mut raw::RedisModuleKey,
    _ctx: PhantomData<&'c Context>,
}

fn open(ctx: &Context, name: &Arg, mode: i32) -> *mut raw::RedisModuleKey {
    // SAFETY: context and name are live for this callback; the handle is
    // closed by the wrapper's Drop before the callback returns.
    unsafe { api!(RedisModule_OpenKey)(ctx.as_ptr(), name.as_ptr(), mode) }
}

/// The MultiMap stored under the key, `None` if the key is empty, or WRONGTYPE.
///
/// # Safety
/// `key` must be an open key handle (or null, which Redis reads as empty).
unsafe fn stored_multimap(key: *mut raw::RedisModuleKey) -> Result<*mut MultiMap, Error> {
    if key.is_null() {
        return Ok(std::ptr::null_mut());
    }
    // SAFETY: `key` is an open handle. Asking for the module type first
    // answers the common case (one of our keys) in one call; only other keys
    // need KeyType to tell empty from wrong type.
    unsafe {
        if api!(RedisModule_ModuleTypeGetType)(key) == multimap_type() {
            return Ok(api!(RedisModule_ModuleTypeGetValue)(key).cast());
        }
        match api!(RedisModule_KeyType)(key) {
            raw::REDISMODULE_KEYTYPE_EMPTY => Ok(std::ptr::null_mut()),
            _ => Err(Error::WrongType),
        }
    }
}

impl<'c> ReadKey<'c> {
    pub(super) fn open(ctx: &'c Context, name: &Arg) -> Self {
        ReadKey {
            raw: open(ctx, name, raw::REDISMODULE_READ),
            _ctx: PhantomData,
        }
    }

    pub fn multimap(&self) -> Result<Option<&MultiMap>, Error> {
        // SAFETY: our type's values are always Box<MultiMap> (module_type sets
        // them), and the key keeps the value alive while `&self` is borrowed.
        unsafe { Ok(stored_multimap(self.raw)?.as_ref()) }
    }
}

impl<'c> WriteKey<'c> {
    pub(super) fn open(ctx: &'c Context, name: &Arg) -> Self {
        WriteKey {
            raw: open(ctx, name, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE),
            _ctx: PhantomData,
        }
    }

    pub fn multimap_mut(&mut self) -> Result<Option<&mut MultiMap>, Error> {
        // SAFETY: as in ReadKey::multimap; `&mut self` makes the borrow unique.
        unsafe { Ok(stored_multimap(self.raw)?.as_mut()) }
    }

    /// The stored MultiMap, first storing an empty one if the key is empty.
    /// The caller must leave it non-empty or `delete` the key.
    pub fn multimap_or_create(&mut self) -> Result<&mut MultiMap, Error> {
        // SAFETY: `self.raw` is an open handle.
        let existing = unsafe { stored_multimap(self.raw)? };
        if !existing.is_null() {
            // SAFETY: as in multimap_mut.
            return Ok(unsafe { &mut *existing });
        }
        let created = Box::into_raw(Box::new(MultiMap::new()));
        // SAFETY: the key is open for writing and empty; on success Redis owns
        // `created` and frees it through our type's `free` callback.
        unsafe {
            let status =
                api!(RedisModule_ModuleTypeSetValue)(self.raw, multimap_type(), created.cast());
            if status != raw::REDISMODULE_OK {
                drop(Box::from_raw(created));
                return Err(Error::Internal);
            }
            Ok(&mut *created)
        }
    }

    /// Deletes the key (Redis frees the value through our `free` callback).
    pub fn delete(&mut self) {
        // SAFETY: the key is open for writing.
        unsafe { api!(RedisModule_DeleteKey)(self.raw) };
    }
}

impl Drop for ReadKey<'_> {
    fn drop(&mut self) {
        close(self.raw);
    }
}

impl Drop for WriteKey<'_> {
    fn drop(&mut self) {
        close(self.raw);
    }
}

fn close(key: *mut raw::RedisModuleKey) {
    if !key.is_null() {
        // SAFETY: the handle is open and closed exactly once, here.
        unsafe { api!(RedisModule_CloseKey)(key) };
    }
}
