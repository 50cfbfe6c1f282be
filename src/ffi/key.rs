//! The one key a command names, opened by the trampoline before the handler
//! runs and closed after its reply is written. Handlers only borrow it, so a
//! handler cannot open a second handle to its key, and a value borrowed from
//! the key cannot outlive it.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::context::Context;
use super::module_type::{borrow, into_raw, DataType, TypeMethods};
use super::raw;
use super::string::Arg;

/// The key holds a value of another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType;

/// What a handler may ask about its key's surroundings while it holds the
/// key's value, each answer computed only when asked (a clock read costs a
/// call to the server, which most commands never need).
#[derive(Clone, Copy)]
pub struct KeyEnv<'c> {
    ctx: &'c Context,
}

impl KeyEnv<'_> {
    /// The time expiry reads the key at (see `Context::expiry_clock`).
    pub fn expiry_clock(&self) -> u64 {
        self.ctx.expiry_clock()
    }

    /// The database the key is in.
    pub fn db(&self) -> i32 {
        self.ctx.selected_db()
    }
}

/// A key opened read-only: reading never creates it, never marks it modified.
pub struct ReadKey<'c> {
    raw: *mut raw::RedisModuleKey,
    ctx: &'c Context,
}

/// A key opened for writing.
pub struct WriteKey<'c> {
    raw: *mut raw::RedisModuleKey,
    ctx: &'c Context,
    /// The value the handler reached, uncounted from the running totals
    /// until the write is over (see `settle`). It stays the key's value until
    /// the key closes: a handler can neither delete the key nor store another
    /// value in it.
    reached: Option<ReachedValue>,
}

#[derive(Clone, Copy)]
struct ReachedValue {
    value: *mut c_void,
    settle: unsafe fn(*const c_void) -> bool,
}

/// Counts a written value back into the running totals; true if the write
/// left it empty.
///
/// # Safety
/// `value` must be a live value of a `DataType<T>`.
unsafe fn settle<T: TypeMethods>(value: *const c_void) -> bool {
    // SAFETY: forwarded from the caller.
    let value = unsafe { borrow::<T>(value) };
    value.counted();
    value.is_empty()
}

fn open(ctx: &Context, name: &Arg, mode: i32) -> *mut raw::RedisModuleKey {
    // SAFETY: context and name are live for this callback; the handle is
    // closed by the wrapper's Drop before the callback returns.
    unsafe { api!(RedisModule_OpenKey)(ctx.as_ptr(), name.as_ptr(), mode) }
}

/// The value stored under the key if it is of `data_type`, null if the key is
/// empty, or WrongType.
///
/// # Safety
/// `key` must be an open key handle (or null, which Redis reads as empty).
unsafe fn stored_value(
    key: *mut raw::RedisModuleKey,
    data_type: *mut raw::RedisModuleType,
) -> Result<*mut c_void, WrongType> {
    if key.is_null() {
        return Ok(std::ptr::null_mut());
    }
    // SAFETY: `key` is an open handle. Asking for the module type first
    // answers the common case (one of our keys) in one call; only other keys
    // need KeyType to tell empty from wrong type. A null (unregistered) type
    // must not match the null type of keys that hold no module value.
    unsafe {
        if !data_type.is_null() && api!(RedisModule_ModuleTypeGetType)(key) == data_type {
            return Ok(api!(RedisModule_ModuleTypeGetValue)(key));
        }
        match api!(RedisModule_KeyType)(key) {
            raw::REDISMODULE_KEYTYPE_EMPTY => Ok(std::ptr::null_mut()),
            _ => Err(WrongType),
        }
    }
}

impl<'c> ReadKey<'c> {
    pub(super) fn open(ctx: &'c Context, name: &Arg) -> Self {
        ReadKey {
            raw: open(ctx, name, raw::REDISMODULE_READ),
            ctx,
        }
    }

    /// Where the key is and when: see `KeyEnv`.
    pub fn env(&self) -> KeyEnv<'c> {
        KeyEnv { ctx: self.ctx }
    }

    /// The key's value, `None` if the key is empty.
    pub fn value<T: TypeMethods>(&self, data_type: &DataType<T>) -> Result<Option<&T>, WrongType> {
        // SAFETY: the handle is open. Values of `data_type` are always `T`s
        // (only `DataType<T>` stores or loads them), and the key keeps the
        // value alive and unchanged while `&self` is borrowed.
        unsafe {
            let value = stored_value(self.raw, data_type.as_ptr())?;
            Ok((!value.is_null()).then(|| borrow::<T>(value)))
        }
    }
}

impl<'c> WriteKey<'c> {
    pub(super) fn open(ctx: &'c Context, name: &Arg) -> Self {
        Self::open_with(ctx, name, 0)
    }

    fn open_with(ctx: &'c Context, name: &Arg, mode: i32) -> Self {
        WriteKey {
            raw: open(
                ctx,
                name,
                raw::REDISMODULE_READ | raw::REDISMODULE_WRITE | mode,
            ),
            ctx,
            reached: None,
        }
    }

    /// Where the key is and when: see `KeyEnv`.
    pub fn env(&self) -> KeyEnv<'c> {
        KeyEnv { ctx: self.ctx }
    }

    /// Hands the key's value to the handler for the first time: it leaves
    /// the running totals until `settle`, unless `created` (it never was in
    /// them). Later calls reach the same value, already uncounted.
    ///
    /// # Safety
    /// `value` must be the key's value, of a `DataType<T>`, or null.
    unsafe fn reach<T: TypeMethods>(&mut self, value: *mut c_void, created: bool) {
        if value.is_null() || self.reached.is_some() {
            return;
        }
        if !created {
            // SAFETY: forwarded from the caller.
            unsafe { borrow::<T>(value) }.uncounted();
        }
        self.reached = Some(ReachedValue {
            value,
            settle: settle::<T>,
        });
    }

    /// The key's value, `None` if the key is empty.
    pub fn value_mut<T: TypeMethods>(
        &mut self,
        data_type: &DataType<T>,
    ) -> Result<Option<&mut T>, WrongType> {
        // SAFETY: as in ReadKey::value; `&mut self` makes the borrow unique.
        unsafe {
            let value = stored_value(self.raw, data_type.as_ptr())?;
            self.reach::<T>(value, false);
            Ok(value.cast::<T>().as_mut())
        }
    }

    /// The key's value, first storing `make()` if the key is empty. A value
    /// left empty when the command ends deletes the key.
    #[inline]
    pub fn value_or_insert_with<T: TypeMethods>(
        &mut self,
        data_type: &DataType<T>,
        make: impl FnOnce() -> T,
    ) -> Result<&mut T, WrongType> {
        // SAFETY: `self.raw` is an open handle.
        let value = unsafe { stored_value(self.raw, data_type.as_ptr())? };
        if value.is_null() {
            return Ok(self.insert(data_type, make()));
        }
        // SAFETY: as in value_mut; `value` is the key's value, of `data_type`.
        unsafe {
            self.reach::<T>(value, false);
            Ok(&mut *value.cast::<T>())
        }
    }

    /// Stores `value` in the key, empty and open for writing, as the value
    /// the handler reached.
    #[cold]
    #[inline(never)]
    fn insert<T: TypeMethods>(&mut self, data_type: &DataType<T>, value: T) -> &mut T {
        assert!(
            !data_type.as_ptr().is_null(),
            "a data type used before it was registered"
        );
        let created = into_raw(value);
        // SAFETY: the key is open for writing and empty; on success Redis
        // owns `created` and frees it through the type's `free` callback.
        let status =
            unsafe { api!(RedisModule_ModuleTypeSetValue)(self.raw, data_type.as_ptr(), created) };
        if status != raw::REDISMODULE_OK {
            // SAFETY: Redis did not take it, so it is still ours alone.
            drop(unsafe { Box::from_raw(created.cast::<T>()) });
            panic!("Redis refused to store a new value in a key open for writing");
        }
        // SAFETY: `created` is now the key's value, of `data_type`, never
        // counted.
        unsafe {
            self.reach::<T>(created, true);
            &mut *created.cast::<T>()
        }
    }

    /// Ends the write, whatever the handler did (a panic included): counts
    /// the value it reached back into the running totals, and deletes the
    /// key if the handler left that value empty; true if it did.
    pub(super) fn settle(&mut self) -> bool {
        let Some(reached) = self.reached.take() else {
            return false;
        };
        // SAFETY: the handle is open for writing, and `reached` is still its
        // value (see `reached`), of the type `settle` was made for.
        unsafe {
            if !(reached.settle)(reached.value) {
                return false;
            }
            api!(RedisModule_DeleteKey)(self.raw);
        }
        true
    }
}

/// Opens `name` in the context's database for writing, outside of any
/// command and without touching its LRU/LFU clock, runs `work` on it, then
/// settles it as a command's key is settled (a value left empty deletes the
/// key). Returns what `work` returned and whether the key was deleted, or
/// the panic either raised.
pub fn with_key_named<R>(
    ctx: &Context,
    name: &Arg,
    work: impl FnOnce(&mut WriteKey<'_>) -> R,
) -> Result<(R, bool), Box<dyn Any + Send>> {
    let mut key = WriteKey::open_with(ctx, name, raw::REDISMODULE_OPEN_KEY_NOTOUCH);
    let ran = catch_unwind(AssertUnwindSafe(|| work(&mut key)));
    let deleted = catch_unwind(AssertUnwindSafe(|| key.settle()));
    Ok((ran?, deleted?))
}

/// Whether `name` in the context's database holds a value of `data_type`
/// for which `test` holds; never touches the key's LRU/LFU clock.
pub fn peek_key<T: TypeMethods>(
    ctx: &Context,
    name: &Arg,
    data_type: &DataType<T>,
    test: impl FnOnce(&T) -> bool,
) -> bool {
    let key = ReadKey {
        raw: open(
            ctx,
            name,
            raw::REDISMODULE_READ | raw::REDISMODULE_OPEN_KEY_NOTOUCH,
        ),
        ctx,
    };
    matches!(key.value(data_type), Ok(Some(value)) if test(value))
}

impl Drop for ReadKey<'_> {
    fn drop(&mut self) {
        close(self.raw);
    }
}

impl WriteKey<'_> {
    /// Ends the write before anything is replied: settles the key (true if
    /// that deleted it), then closes it.
    pub(super) fn end(&mut self) -> bool {
        let deleted = self.settle();
        self.close();
        deleted
    }

    fn close(&mut self) {
        close(std::mem::replace(&mut self.raw, std::ptr::null_mut()));
    }
}

impl Drop for WriteKey<'_> {
    fn drop(&mut self) {
        self.close();
    }
}

fn close(key: *mut raw::RedisModuleKey) {
    if !key.is_null() {
        // SAFETY: the handle is open and closed exactly once, here.
        unsafe { api!(RedisModule_CloseKey)(key) };
    }
}
