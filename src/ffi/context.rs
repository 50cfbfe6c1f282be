//! The context of one callback from Redis.

use std::ffi::CStr;
use std::ptr::NonNull;

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
    /// if the key is gone), and propagate the command as sent to replicas and
    /// the AOF.
    pub(super) fn announce_change(&self, key: &Arg, event: &CStr, key_deleted: bool) {
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
}
