//! RDB and AOF handles given to the data type callbacks.

use std::ffi::{c_int, CStr};
use std::ptr::NonNull;

use super::raw;
use super::string::{OwnedArg, RedisStr};

/// The RDB stream is truncated or unreadable; the loader must give up.
#[derive(Debug, PartialEq, Eq)]
pub struct IoError;

pub struct RdbWriter {
    io: NonNull<raw::RedisModuleIO>,
}

pub struct RdbReader {
    io: NonNull<raw::RedisModuleIO>,
}

pub struct AofWriter<'a> {
    io: NonNull<raw::RedisModuleIO>,
    key: RedisStr<'a>,
}

/// The accumulator behind `DEBUG DIGEST` / `DEBUG DIGEST-VALUE`.
pub struct Digest {
    raw: NonNull<raw::RedisModuleDigest>,
}

/// A string read from the RDB, in memory Redis allocated; freed on Drop.
pub struct LoadedBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

impl RdbWriter {
    /// # Safety
    /// `io` must be the live IO handle of the rdb_save callback in progress.
    pub(super) unsafe fn from_raw(io: *mut raw::RedisModuleIO) -> Option<RdbWriter> {
        NonNull::new(io).map(|io| RdbWriter { io })
    }
}

impl RdbWriter {
    pub fn save_unsigned(&mut self, value: u64) {
        // SAFETY: the handle is live for this callback.
        unsafe { api!(RedisModule_SaveUnsigned)(self.io.as_ptr(), value) };
    }

    pub fn save_buffer(&mut self, bytes: &[u8]) {
        // SAFETY: the buffer is valid for its length; Redis copies it.
        unsafe {
            api!(RedisModule_SaveStringBuffer)(self.io.as_ptr(), bytes.as_ptr().cast(), bytes.len())
        };
    }

    /// Ends the value with a double, an item our loaders never read: Redis
    /// checks each item's kind while loading, so the value fails to load
    /// instead of reading as something it is not.
    pub(super) fn poison(&mut self) {
        // SAFETY: the handle is live for this callback.
        unsafe { api!(RedisModule_SaveDouble)(self.io.as_ptr(), f64::NAN) };
    }

    pub(super) fn in_fork_child(&self) -> bool {
        in_fork_child(self.io)
    }
}

/// Whether this save runs in a fork child (BGSAVE, full sync, AOF rewrite)
/// rather than in the server itself.
fn in_fork_child(io: NonNull<raw::RedisModuleIO>) -> bool {
    context_flags(io).is_some_and(|flags| flags & raw::REDISMODULE_CTX_FLAGS_IS_CHILD != 0)
}

/// The server's context flags as seen from an IO callback, where it says.
fn context_flags(io: NonNull<raw::RedisModuleIO>) -> Option<c_int> {
    // SAFETY: optional APIs (Redis 6.2+ has both); the IO handle is live, and
    // the context made from it belongs to it (Redis frees it with the IO).
    unsafe {
        let (Some(context_from_io), Some(context_flags)) = (
            raw::RedisModule_GetContextFromIO,
            raw::RedisModule_GetContextFlags,
        ) else {
            return None;
        };
        let ctx = context_from_io(io.as_ptr());
        (!ctx.is_null()).then(|| context_flags(ctx))
    }
}

/// Where a key is: its database and its name.
pub struct KeyPlace {
    pub db: i32,
    pub name: Vec<u8>,
}

impl RdbReader {
    /// # Safety
    /// `io` must be the live IO handle of the rdb_load callback in progress, and
    /// the module must have set REDISMODULE_OPTIONS_HANDLE_IO_ERRORS (otherwise
    /// Redis aborts on a short read instead of reporting it).
    pub(super) unsafe fn from_raw(io: *mut raw::RedisModuleIO) -> Option<RdbReader> {
        NonNull::new(io).map(|io| RdbReader { io })
    }

    fn check(&self) -> Result<(), IoError> {
        // SAFETY: the handle is live for this callback.
        match unsafe { api!(RedisModule_IsIOError)(self.io.as_ptr()) } {
            0 => Ok(()),
            _ => Err(IoError),
        }
    }

    pub fn load_unsigned(&mut self) -> Result<u64, IoError> {
        // SAFETY: the handle is live for this callback.
        let value = unsafe { api!(RedisModule_LoadUnsigned)(self.io.as_ptr()) };
        self.check().map(|()| value)
    }

    pub fn load_buffer(&mut self) -> Result<LoadedBuffer, IoError> {
        let mut len = 0usize;
        // SAFETY: the handle is live; `len` is a valid out-pointer.
        let ptr = unsafe { api!(RedisModule_LoadStringBuffer)(self.io.as_ptr(), &mut len) };
        // Wrap first so the buffer is freed even when the read failed half way.
        let buffer = NonNull::new(ptr.cast::<u8>()).map(|ptr| LoadedBuffer { ptr, len });
        self.check()?;
        buffer.ok_or(IoError)
    }

    /// Whether this server is a replica (a full sync, or RESTORE sent by
    /// its master), which keeps what has expired until its master removes
    /// it; false where the server does not say.
    pub fn loads_on_replica(&self) -> bool {
        context_flags(self.io).is_some_and(|flags| flags & raw::REDISMODULE_CTX_FLAGS_MASTER == 0)
    }

    /// The key being loaded and its database, where the server says
    /// (Redis 7.0+ and Valkey, for an RDB file, a full sync or RESTORE).
    pub fn key_place(&self) -> Option<KeyPlace> {
        // SAFETY: optional APIs, read after the shim resolved them.
        let (Some(name_of), Some(db_of)) = (unsafe {
            (
                raw::RedisModule_GetKeyNameFromIO,
                raw::RedisModule_GetDbIdFromIO,
            )
        }) else {
            return None;
        };
        // SAFETY: the handle is live for this callback; the name, when
        // there is one, lives as long, and is only read here.
        unsafe {
            let db = db_of(self.io.as_ptr());
            let name = RedisStr::from_raw(name_of(self.io.as_ptr()).cast_mut())?;
            (db >= 0).then(|| KeyPlace {
                db,
                name: name.to_bytes(),
            })
        }
    }

    /// Tells the operator why a stored value was refused.
    pub fn log_rejection(&mut self, reason: &CStr) {
        // SAFETY: the format consumes exactly one NUL-terminated string.
        unsafe {
            api!(RedisModule_LogIOError)(
                self.io.as_ptr(),
                c"warning".as_ptr(),
                c"multimap: rejected a stored value: %s".as_ptr(),
                reason.as_ptr(),
            )
        };
    }
}

impl Digest {
    /// # Safety
    /// `raw` must be the live digest of the digest callback in progress.
    pub(super) unsafe fn from_raw(raw: *mut raw::RedisModuleDigest) -> Option<Digest> {
        NonNull::new(raw).map(|raw| Digest { raw })
    }

    /// Mixes in one element; elements of one sequence are order-dependent.
    pub fn add(&mut self, bytes: &[u8]) {
        // SAFETY: the digest is live; Redis reads the buffer during the call only.
        unsafe {
            api!(RedisModule_DigestAddStringBuffer)(
                self.raw.as_ptr(),
                bytes.as_ptr().cast(),
                bytes.len(),
            )
        };
    }

    /// Closes a sequence; sequences combine order-independently.
    pub fn end_sequence(&mut self) {
        // SAFETY: the digest is live.
        unsafe { api!(RedisModule_DigestEndSequence)(self.raw.as_ptr()) };
    }
}

impl AsRef<[u8]> for LoadedBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: Redis allocated `len` readable bytes at `ptr`, owned by us
        // until Drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl From<LoadedBuffer> for Vec<u8> {
    /// Takes the buffer over without copying it.
    fn from(buffer: LoadedBuffer) -> Vec<u8> {
        if buffer.len == 0 {
            return Vec::new(); // Drop frees the block; an empty Vec never would
        }
        let buffer = std::mem::ManuallyDrop::new(buffer);
        // SAFETY: Redis allocated these `len` bytes with zmalloc, which is
        // what RedisModule_Alloc is; inside Redis our global allocator serves
        // byte-aligned layouts straight from RedisModule_Alloc and frees them
        // with RedisModule_Free, whatever size the layout claims, so the Vec
        // may own and later free or grow the block. ManuallyDrop keeps our own
        // Drop from freeing it too.
        unsafe { Vec::from_raw_parts(buffer.ptr.as_ptr(), buffer.len, buffer.len) }
    }
}

impl Drop for LoadedBuffer {
    fn drop(&mut self) {
        // SAFETY: LoadStringBuffer's result is ours to release with RedisModule_Free.
        unsafe { api!(RedisModule_Free)(self.ptr.as_ptr().cast()) };
    }
}

impl<'a> AofWriter<'a> {
    /// # Safety
    /// `io` and `key` must be the live arguments of the aof_rewrite callback in
    /// progress.
    pub(super) unsafe fn from_raw(
        io: *mut raw::RedisModuleIO,
        key: *mut raw::RedisModuleString,
    ) -> Option<AofWriter<'a>> {
        // SAFETY: forwarded from the caller.
        let key = unsafe { RedisStr::from_raw(key)? };
        NonNull::new(io).map(|io| AofWriter { io, key })
    }

    pub(super) fn in_fork_child(&self) -> bool {
        in_fork_child(self.io)
    }

    /// Emits `command key field value...` into the rewritten AOF (any
    /// command of the key, its first argument and the rest).
    pub fn emit_with_field(&mut self, command: &CStr, field: &[u8], values: &[&[u8]]) {
        let strings: Vec<OwnedArg> = values.iter().map(|value| OwnedArg::new(value)).collect();
        let pointers: Vec<*mut raw::RedisModuleString> =
            strings.iter().map(|string| string.as_ptr()).collect();
        // SAFETY: the format "sbv" consumes the key string, a (pointer, length)
        // buffer and a (RedisModuleString**, size_t) vector, passed in that
        // order and alive for the call.
        unsafe {
            api!(RedisModule_EmitAOF)(
                self.io.as_ptr(),
                command.as_ptr(),
                c"sbv".as_ptr(),
                self.key.as_ptr(),
                field.as_ptr().cast::<std::ffi::c_char>(),
                field.len(),
                pointers.as_ptr(),
                pointers.len(),
            )
        };
    }
}
