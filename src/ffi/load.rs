//! The Rust side of `RedisModule_OnLoad`: checks the server, sets the options
//! every module of ours needs, then hands over to the module's own load
//! function, which registers its types and commands through this layer.

use std::ffi::c_int;

use super::context::Context;
use super::log::{guarded, log_warning};
use super::raw;
use super::string::Arg;

/// Runs `on_load` for c/shim.c's RedisModule_OnLoad, once the API pointers
/// are resolved; its `Err` (or a panic) fails the load with a log line.
///
/// # Safety
/// Redis's load context and its `argc` module arguments, as passed to OnLoad.
pub unsafe fn run(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    on_load: fn(&Context, &[Arg]) -> Result<(), String>,
) -> c_int {
    if let Some(missing) = missing_required_api() {
        log_warning(
            ctx,
            &format!("multimap: this Redis server lacks {missing}; Redis 6.2 or newer is required"),
        );
        return raw::REDISMODULE_ERR;
    }
    // SAFETY: forwarded from Redis.
    let Some(context) = (unsafe { Context::from_raw(ctx) }) else {
        return raw::REDISMODULE_ERR;
    };
    // SAFETY: forwarded from Redis: `argc` strings alive for the load.
    let args = unsafe { Arg::slice(argv, argc) };
    set_module_options(&context);
    match guarded("loading", || on_load(&context, args)) {
        Some(Ok(())) => raw::REDISMODULE_OK,
        Some(Err(reason)) => {
            log_warning(ctx, &format!("multimap: not loaded: {reason}"));
            raw::REDISMODULE_ERR
        }
        None => raw::REDISMODULE_ERR,
    }
}

/// The first API function we cannot work without that this server lacks.
fn missing_required_api() -> Option<&'static str> {
    macro_rules! first_missing {
        ($($name:ident),* $(,)?) => {
            // SAFETY: reading pointers the shim has finished writing.
            unsafe { [$(({ raw::$name }.is_none(), stringify!($name))),*] }
                .into_iter()
                .find_map(|(missing, name)| missing.then_some(name))
        };
    }
    first_missing!(
        RedisModule_Alloc,
        RedisModule_Calloc,
        RedisModule_Realloc,
        RedisModule_Free,
        RedisModule_MallocSize,
        RedisModule_SetModuleOptions,
        RedisModule_CreateCommand,
        RedisModule_Log,
        RedisModule_LogIOError,
        RedisModule_WrongArity,
        RedisModule_ReplyWithLongLong,
        RedisModule_ReplyWithError,
        RedisModule_ReplyWithArray,
        RedisModule_ReplyWithEmptyArray,
        RedisModule_ReplyWithNull,
        RedisModule_ReplyWithStringBuffer,
        RedisModule_StringPtrLen,
        RedisModule_CreateString,
        RedisModule_FreeString,
        RedisModule_StringToLongLong,
        RedisModule_OpenKey,
        RedisModule_CloseKey,
        RedisModule_KeyType,
        RedisModule_DeleteKey,
        RedisModule_ReplicateVerbatim,
        RedisModule_SignalModifiedKey,
        RedisModule_NotifyKeyspaceEvent,
        RedisModule_CreateDataType,
        RedisModule_ModuleTypeSetValue,
        RedisModule_ModuleTypeGetType,
        RedisModule_ModuleTypeGetValue,
        RedisModule_IsIOError,
        RedisModule_SaveUnsigned,
        RedisModule_LoadUnsigned,
        RedisModule_SaveStringBuffer,
        RedisModule_LoadStringBuffer,
        RedisModule_SaveDouble,
        RedisModule_EmitAOF,
        RedisModule_DigestAddStringBuffer,
        RedisModule_DigestEndSequence,
    )
}

/// Short RDB reads come back as `IsIOError` instead of aborting the server,
/// which our loader relies on to reject bad payloads; and keys opened for
/// writing are not implicitly marked modified, because only a write that
/// changed data may invalidate WATCH (the command trampoline signals those).
fn set_module_options(ctx: &Context) {
    let options = raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS
        | raw::REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED;
    // SAFETY: the load context is live.
    unsafe { api!(RedisModule_SetModuleOptions)(ctx.as_ptr(), options) };
}
