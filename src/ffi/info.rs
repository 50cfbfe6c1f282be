//! A module's own INFO section. Redis names module sections and fields after
//! the module (`# multimap`, `multimap_<field>:<value>`), and `INFO <module
//! name>` asks for exactly them; so do `INFO everything` and `INFO modules`,
//! while plain `INFO` and `INFO all` leave them out.

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::context::Context;
use super::log::guarded;
use super::raw;

/// What a module reports in its INFO section, written afresh each time the
/// section is asked for. Also written into the crash report of a dying
/// server, so it must only read what it reports.
pub trait InfoSection: 'static {
    fn write(fields: &mut InfoFields<'_>);
}

/// The section being written; lives as long as the INFO callback.
pub struct InfoFields<'a> {
    ctx: NonNull<raw::RedisModuleInfoCtx>,
    _callback: PhantomData<&'a mut raw::RedisModuleInfoCtx>,
}

impl InfoFields<'_> {
    /// Adds the line `<module>_<name>:<value>`. The name must hold neither
    /// `:` nor a line break.
    pub fn add(&mut self, name: &CStr, value: i64) {
        // SAFETY: the context is live for this callback; Redis copies the name.
        unsafe {
            api!(RedisModule_InfoAddFieldLongLong)(self.ctx.as_ptr(), name.as_ptr(), value);
        }
    }
}

/// Gives the module an INFO section written by `S`.
pub fn register_info<S: InfoSection>(ctx: &Context) -> Result<(), String> {
    // SAFETY: the load context is live; the callback is a plain function.
    let status = unsafe { api!(RedisModule_RegisterInfoFunc)(ctx.as_ptr(), Some(write_info::<S>)) };
    if status == raw::REDISMODULE_OK {
        Ok(())
    } else {
        Err("could not register the INFO section".to_owned())
    }
}

extern "C" fn write_info<S: InfoSection>(
    ctx: *mut raw::RedisModuleInfoCtx,
    _for_crash_report: c_int,
) {
    let Some(ctx) = NonNull::new(ctx) else {
        return;
    };
    // An empty section name leaves the section named after the module alone,
    // which is what `INFO <module name>` finds.
    // SAFETY: Redis passes the live context of this INFO call.
    let status = unsafe { api!(RedisModule_InfoAddSection)(ctx.as_ptr(), c"".as_ptr()) };
    // Refused when INFO asked for other sections only: nothing to write.
    if status != raw::REDISMODULE_OK {
        return;
    }
    let mut fields = InfoFields {
        ctx,
        _callback: PhantomData,
    };
    guarded("INFO", || S::write(&mut fields));
}
