//! The context of one callback from Redis.

use std::ffi::{c_int, CStr};
use std::ptr::NonNull;

use super::command::Rewrite;
use super::log::{log_notice, log_warning};
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

    pub fn log_notice(&self, message: &str) {
        log_notice(self.as_ptr(), message);
    }

    /// Everything a write that changed data owes the rest of Redis, in the
    /// order native commands do it: invalidate WATCH; first the fields it
    /// found expired and removed (see `announce_removals`); then fire
    /// `event` and propagate the command to replicas and the AOF, as sent or
    /// as `rewrite`; and `del` if the key is gone.
    #[inline]
    pub(super) fn announce_change(
        &self,
        key: &Arg,
        change: Option<(&CStr, Option<&Rewrite>)>,
        removals: Option<Removals<'_>>,
        key_deleted: bool,
    ) {
        // SAFETY: the context and key name are live for this callback.
        unsafe { api!(RedisModule_SignalModifiedKey)(self.as_ptr(), key.as_ptr()) };
        if let Some(removals) = removals {
            self.replicate_removals(key, &removals);
        }
        if let Some((event, rewrite)) = change {
            self.notify(raw::REDISMODULE_NOTIFY_MODULE, event, key);
            match rewrite {
                // SAFETY: the context is live for this command call.
                None => unsafe { api!(RedisModule_ReplicateVerbatim)(self.as_ptr()) },
                Some(rewrite) => self.replicate(key, rewrite),
            };
        }
        if key_deleted {
            self.notify(raw::REDISMODULE_NOTIFY_GENERIC, c"del", key);
        }
    }

    /// What removing `removals.parts` from `key` outside of a client's
    /// command owes the rest of Redis: WATCH invalidated, each removal
    /// propagated as its own command, the event once, and `del` if the key
    /// went.
    pub fn announce_removals(&self, key: &Arg, removals: Removals<'_>, key_deleted: bool) {
        self.announce_change(key, None, Some(removals), key_deleted);
    }

    fn replicate_removals(&self, key: &Arg, removals: &Removals<'_>) {
        for part in removals.parts {
            let rewrite = Rewrite {
                command: removals.command,
                args: vec![part.clone()],
            };
            self.replicate(key, &rewrite);
        }
        self.notify(raw::REDISMODULE_NOTIFY_MODULE, removals.event, key);
    }

    #[inline]
    fn notify(&self, class: c_int, event: &CStr, key: &Arg) {
        // SAFETY: the context and key name are live for this callback; the
        // event name is NUL-terminated and copied by Redis.
        unsafe {
            api!(RedisModule_NotifyKeyspaceEvent)(
                self.as_ptr(),
                class,
                event.as_ptr(),
                key.as_ptr(),
            )
        };
    }

    /// The database the context works on.
    pub fn selected_db(&self) -> i32 {
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_GetSelectedDb)(self.as_ptr()) }
    }

    /// Makes the context work on database `db`; false if there is none.
    pub fn select_db(&self, db: i32) -> bool {
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_SelectDb)(self.as_ptr(), db) == raw::REDISMODULE_OK }
    }

    fn flags(&self) -> c_int {
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_GetContextFlags)(self.as_ptr()) }
    }

    /// Whether this server is a master, which removes what expires, rather
    /// than a replica, which waits for its master to.
    pub fn is_master(&self) -> bool {
        self.flags() & raw::REDISMODULE_CTX_FLAGS_MASTER != 0
    }

    /// The time, in Unix milliseconds, at which what this call reads has
    /// or has not expired: 0 (nothing has) for what the master sends and
    /// what the AOF replays, which remove expired data themselves, as the
    /// server treats its own keys.
    pub fn expiry_clock(&self) -> u64 {
        const SEES_EVERYTHING: c_int =
            raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING;
        if self.flags() & SEES_EVERYTHING != 0 {
            0
        } else {
            now_ms()
        }
    }
}

/// The server's clock, in Unix milliseconds.
pub fn now_ms() -> u64 {
    // SAFETY: takes no arguments; reads the server's clock.
    let now = unsafe { api!(RedisModule_Milliseconds)() };
    u64::try_from(now).unwrap_or(0)
}

/// Parts of a key removed one by one (fields that expired): each is
/// propagated as `command key part`, and `event` fires once for them all.
pub struct Removals<'a> {
    pub command: &'static CStr,
    pub event: &'static CStr,
    pub parts: &'a [Vec<u8>],
}

impl Context {
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
