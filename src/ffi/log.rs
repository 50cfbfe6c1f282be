//! The server log, and the guard that keeps a Rust panic from unwinding into
//! Redis: every entry point Redis calls runs its body through `guarded`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::raw;

/// Writes one warning line to the server log; `ctx` may be null outside a
/// command (Redis then tags the line with no module name).
pub(super) fn log_warning(ctx: *mut raw::RedisModuleCtx, message: &str) {
    log(ctx, c"warning", message);
}

/// Writes one notice line to the server log.
pub(super) fn log_notice(ctx: *mut raw::RedisModuleCtx, message: &str) {
    log(ctx, c"notice", message);
}

fn log(ctx: *mut raw::RedisModuleCtx, level: &std::ffi::CStr, message: &str) {
    // Interior NULs would cut the line short; the log is for humans, so a
    // lossy stand-in is fine there.
    let line = std::ffi::CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: the format is a literal "%s" consuming exactly one C string;
    // Redis accepts a null context for logging.
    unsafe { api!(RedisModule_Log)(ctx, level.as_ptr(), c"%s".as_ptr(), line.as_ptr()) };
}

/// What a panic said, for the log.
pub(super) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Runs `body`, or logs a panic in it as `what` aborted by a bug and
/// returns `None`, for the caller to give Redis something safe instead.
pub(super) fn guarded<T>(what: &str, body: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(body))
        .map_err(|panic| {
            log_warning(
                std::ptr::null_mut(),
                &format!("multimap: {what} aborted by a bug: {}", panic_text(&*panic)),
            );
        })
        .ok()
}
