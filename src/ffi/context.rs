//! The context of one callback from Redis.

use std::ffi::{c_int, CStr};
use std::ptr::NonNull;

use super::command::Rewrite;
use super::log::log_warning;
use super::raw;
use super::string::Arg;

/// Valid for the callback it was made for only; every handle made from it
/// borrows it, so none can outlive the callback.
pub struct Context {
    raw: NonNull<raw::RedisModuleCtx>,
}

impl Context {
    /// # Safety
    /// `raw` must be the live context of the callback in progress, and the
    /// `Context` must not escape that callback.
    pub(super) unsafe fn from_raw(raw: *mut raw::RedisModuleCtx) -> Option<Context> {
        NonNull::new(raw).map(|raw| Context { raw })
    }

    pub(super) fn as_ptr(&self) -> *mut raw::RedisModuleCtx {
        self.raw.as_ptr()
    }

    pub(super) fn log_warning(&self, message: &str) {
        log_warning(self.as_ptr(), message);
    }

    /// Everything a write that changed data owes the rest of Redis, in the
    /// order native commands do it: invalidate WATCH, fire `event` (and `del`
    /// if the key is gone), and propagate the command to replicas and the
    /// AOF, as sent or as `rewrite`.
    pub(super) fn announce_change(
        &self,
        key: &Arg,
        event: &CStr,
        key_deleted: bool,
        rewrite: Option<&Rewrite>,
    ) {
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
            match rewrite {
                None => api!(RedisModule_ReplicateVerbatim)(self.as_ptr()),
                Some(rewrite) => self.replicate(key, rewrite),
            };
        }
    }

    /// Propagates `rewrite` on `key`. Returns the server's status, which
    /// only says no for a command name it does not know.
    fn replicate(&self, key: &Arg, rewrite: &Rewrite) -> c_int {
        let args: Vec<*mut raw::RedisModuleString> = rewrite
            .args
            .iter()
            // SAFETY: the context is live; the buffer is valid for its
            // length, and the server copies it.
            .map(|arg| unsafe {
                api!(RedisModule_CreateString)(self.as_ptr(), arg.as_ptr().cast(), arg.len())
            })
            .collect();
        // SAFETY: the context and key are live; "sv" takes one string and a
        // vector of `args.len()` strings, all live for the call, and the
        // server keeps its own references to what it propagates.
        let status = unsafe {
            api!(RedisModule_Replicate)(
                self.as_ptr(),
                rewrite.command.as_ptr(),
                c"sv".as_ptr(),
                key.as_ptr(),
                args.as_ptr(),
                args.len(),
            )
        };
        for arg in args {
            // SAFETY: made above and no longer used.
            unsafe { api!(RedisModule_FreeString)(self.as_ptr(), arg) };
        }
        status
    }
}
