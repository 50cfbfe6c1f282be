//! The command context and its arguments, as safe handles that cannot outlive
//! the call Redis made.

use std::ffi::{c_long, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::key::{ReadKey, WriteKey};
use super::raw;

/// The context of one callback from Redis; valid for that callback only, which
/// the borrow of every handle made from it enforces.
pub struct Context {
    raw: NonNull<raw::RedisModuleCtx>,
}

/// One command argument: a Redis string, read as the bytes it holds.
#[repr(transparent)]
pub struct Arg {
    raw: NonNull<raw::RedisModuleString>,
}

/// A string Redis passed to a callback, borrowed for that callback.
pub struct RedisStr<'a> {
    raw: NonNull<raw::RedisModuleString>,
    _call: PhantomData<&'a ()>,
}

impl Context {
    /// # Safety
    /// `raw` must be the live context of the callback in progress, and the
    /// `Context` must not escape that callback.
    pub(crate) unsafe fn from_raw(raw: *mut raw::RedisModuleCtx) -> Option<Context> {
        NonNull::new(raw).map(|raw| Context { raw })
    }

    pub(crate) fn as_ptr(&self) -> *mut raw::RedisModuleCtx {
        self.raw.as_ptr()
    }

    pub fn open_read(&self, name: &Arg) -> ReadKey<'_> {
        ReadKey::open(self, name)
    }

    pub fn open_write(&self, name: &Arg) -> WriteKey<'_> {
        WriteKey::open(self, name)
    }

    pub fn reply_integer(&self, value: i64) {
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_ReplyWithLongLong)(self.as_ptr(), value) };
    }

    /// Usize counts are replied as integers; they always fit since no map can
    /// hold more than `i64::MAX` of anything.
    pub fn reply_count(&self, count: usize) {
        self.reply_integer(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub fn reply_bool(&self, value: bool) {
        self.reply_integer(i64::from(value));
    }

    pub fn reply_bulk(&self, bytes: &[u8]) {
        // SAFETY: the buffer is valid for `bytes.len()` bytes; Redis copies it.
        unsafe {
            api!(RedisModule_ReplyWithStringBuffer)(
                self.as_ptr(),
                bytes.as_ptr().cast(),
                bytes.len(),
            )
        };
    }

    /// Starts an array of `len` elements; the caller replies exactly that many.
    pub fn reply_array(&self, len: usize) {
        if len == 0 {
            // SAFETY: the context is live for this callback.
            unsafe { api!(RedisModule_ReplyWithEmptyArray)(self.as_ptr()) };
        } else {
            // SAFETY: the context is live for this callback.
            unsafe { api!(RedisModule_ReplyWithArray)(self.as_ptr(), reply_len(len)) };
        }
    }

    /// Starts a map of `len` pairs: a RESP3 map, or under RESP2 (and on servers
    /// without map replies) a flat array of `2 * len` elements. The caller
    /// replies `2 * len` elements either way.
    pub fn reply_map(&self, len: usize) {
        // SAFETY: an optional API: absent before Redis 7.0.
        match unsafe { raw::RedisModule_ReplyWithMap } {
            // SAFETY: the context is live for this callback.
            Some(reply_with_map) => unsafe {
                reply_with_map(self.as_ptr(), reply_len(len));
            },
            None => self.reply_array(len.saturating_mul(2)),
        }
    }

    pub fn reply_error(&self, message: &CStr) {
        // SAFETY: the message is NUL-terminated; Redis copies it.
        unsafe { api!(RedisModule_ReplyWithError)(self.as_ptr(), message.as_ptr()) };
    }

    pub fn reply_wrong_arity(&self) {
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_WrongArity)(self.as_ptr()) };
    }

    /// Everything a write that changed data owes the rest of Redis, in the
    /// order native commands do it: invalidate WATCH, fire `event` (and `del`
    /// if the key is gone), and propagate the command as sent to replicas and
    /// the AOF. A write that changed nothing must not call this.
    pub fn wrote(&self, key: &Arg, event: &CStr, key_deleted: bool) {
        // SAFETY: the context and key name are live for this callback; the
        // event names are NUL-terminated and copied by Redis.
        unsafe {
            api!(RedisModule_SignalModifiedKey)(self.as_ptr(), key.as_ptr());
            let notify = api!(RedisModule_NotifyKeyspaceEvent);
            notify(
                self.as_ptr(),
                raw::REDISMODULE_NOTIFY_MODULE,
                event.as_ptr(),
                key.as_ptr(),
            );
            if key_deleted {
                notify(
                    self.as_ptr(),
                    raw::REDISMODULE_NOTIFY_GENERIC,
                    c"del".as_ptr(),
                    key.as_ptr(),
                );
            }
            api!(RedisModule_ReplicateVerbatim)(self.as_ptr());
        }
    }

    pub fn log_warning(&self, message: &str) {
        log(self.as_ptr(), message);
    }
}

/// Writes one line to the server log; `ctx` may be null outside a command.
pub(crate) fn log(ctx: *mut raw::RedisModuleCtx, message: &str) {
    // Interior NULs would cut the line short; the log is for humans, so a
    // lossy stand-in is fine there.
    let line = std::ffi::CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: the format is a literal "%s" consuming exactly one C string.
    unsafe { api!(RedisModule_Log)(ctx, c"warning".as_ptr(), c"%s".as_ptr(), line.as_ptr()) };
}

fn reply_len(len: usize) -> c_long {
    c_long::try_from(len).unwrap_or(c_long::MAX)
}

impl Arg {
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: Redis keeps argv alive for the whole callback, which `&self`
        // cannot outlive.
        unsafe { bytes_of(self.raw) }
    }

    /// The argument as a signed 64-bit integer, by Redis's own parsing rules.
    pub fn to_i64(&self) -> Option<i64> {
        let mut value: std::ffi::c_longlong = 0;
        // SAFETY: the string is live for this callback; `value` is a valid out-pointer.
        let status = unsafe { api!(RedisModule_StringToLongLong)(self.raw.as_ptr(), &mut value) };
        (status == raw::REDISMODULE_OK).then_some(value)
    }

    pub(crate) fn as_ptr(&self) -> *mut raw::RedisModuleString {
        self.raw.as_ptr()
    }
}

impl<'a> RedisStr<'a> {
    /// # Safety
    /// `raw` must be a live Redis string for at least `'a`.
    pub(crate) unsafe fn from_raw(raw: *mut raw::RedisModuleString) -> Option<RedisStr<'a>> {
        NonNull::new(raw).map(|raw| RedisStr {
            raw,
            _call: PhantomData,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut raw::RedisModuleString {
        self.raw.as_ptr()
    }
}

/// # Safety
/// `string` must stay live and unmodified for `'a`.
unsafe fn bytes_of<'a>(string: NonNull<raw::RedisModuleString>) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: the string is live; StringPtrLen returns its buffer and length,
    // which stay valid while the string lives.
    unsafe {
        let ptr = api!(RedisModule_StringPtrLen)(string.as_ptr(), &mut len);
        if ptr.is_null() || len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(ptr.cast(), len)
        }
    }
}
