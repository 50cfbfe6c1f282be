//! Clients waiting for a key, on the Modules API's block-on-keys calls: a
//! blocking command that finds nothing to do parks its client on its key;
//! every write that changes a key someone waits on signals it ready, and the
//! server then retries each client waiting on it, oldest first, until one
//! finds nothing left (see `command::ready`).

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use super::context::Context;
use super::raw;
use super::string::Arg;

/// Clients waiting in one of our blocking commands. Changed on the main thread
/// only; atomic because a static must be `Sync`.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// What a waiting client's private data points to: the server frees it
/// through `release` exactly once, however the wait ends (served, timed out,
/// CLIENT UNBLOCK, disconnected), which is what keeps `WAITING` exact. The
/// server only ever hands the pointer back; it never reads it.
static WAITER: u8 = 0;

/// How many clients wait in one of our blocking commands now.
pub fn waiting_clients() -> usize {
    WAITING.load(Relaxed)
}

impl Context {
    /// Whether the calling client may block: not inside MULTI/EXEC, a script
    /// or a module's RedisModule_Call, where a blocking command must answer
    /// at once.
    pub(super) fn may_block(&self) -> bool {
        const DENIED: c_int = raw::REDISMODULE_CTX_FLAGS_DENY_BLOCKING
            | raw::REDISMODULE_CTX_FLAGS_MULTI
            | raw::REDISMODULE_CTX_FLAGS_LUA;
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_GetContextFlags)(self.as_ptr()) & DENIED == 0 }
    }

    /// Parks the calling client on `key` until `ready` serves it, for at most
    /// `timeout_ms` milliseconds (0: no limit), after which it is answered
    /// with a null array, as native blocking commands are.
    pub(super) fn block_on_key(&self, key: &Arg, timeout_ms: i64, ready: raw::RedisModuleCmdFunc) {
        let mut keys = [key.as_ptr()];
        WAITING.fetch_add(1, Relaxed);
        // SAFETY: the context and key name are live for this callback, and the
        // server takes its own reference to the name; the callbacks are plain
        // functions, and the private data a static the server never reads.
        unsafe {
            api!(RedisModule_BlockClientOnKeys)(
                self.as_ptr(),
                ready,
                Some(timed_out),
                Some(release),
                timeout_ms,
                keys.as_mut_ptr(),
                1,
                std::ptr::from_ref(&WAITER).cast_mut().cast(),
            );
        }
    }

    /// Tells the server that `key` changed, so that clients waiting on it
    /// retry; only when someone waits, so writes pay nothing otherwise.
    pub(super) fn signal_ready(&self, key: &Arg) {
        if waiting_clients() > 0 {
            // SAFETY: the context and key name are live for this callback.
            unsafe { api!(RedisModule_SignalKeyAsReady)(self.as_ptr(), key.as_ptr()) };
        }
    }
}

/// The timeout callback (also how CLIENT UNBLOCK ends a wait): the null
/// array a native blocking pop replies.
extern "C" fn timed_out(
    ctx: *mut raw::RedisModuleCtx,
    _argv: *mut *mut raw::RedisModuleString,
    _argc: c_int,
) -> c_int {
    // SAFETY: the server calls this with the live context of the waiting client.
    unsafe { api!(RedisModule_ReplyWithNullArray)(ctx) };
    raw::REDISMODULE_OK
}

extern "C" fn release(_ctx: *mut raw::RedisModuleCtx, _waiter: *mut c_void) {
    WAITING.fetch_sub(1, Relaxed);
}
