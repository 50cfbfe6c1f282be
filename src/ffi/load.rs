//! The Rust side of `RedisModule_OnLoad`, and the registration calls only a
//! load context may make.

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::command::Command;
use super::context::{log, Arg, Context};
use super::raw;

/// Called by c/shim.c once the API pointers are resolved.
///
/// # Safety
/// Redis's load context and its `argc` module arguments, as passed to OnLoad.
#[no_mangle]
pub unsafe extern "C" fn multimap_on_load(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    if let Some(missing) = missing_required_api() {
        log(
            ctx,
            &format!("multimap: this Redis server lacks {missing}; Redis 6.2 or newer is required"),
        );
        return raw::REDISMODULE_ERR;
    }
    // SAFETY: forwarded from Redis.
    let Some(context) = (unsafe { Context::from_raw(ctx) }) else {
        return raw::REDISMODULE_ERR;
    };
    let args: &[Arg] = match usize::try_from(argc) {
        // SAFETY: as in command::dispatch.
        Ok(len) if len > 0 && !argv.is_null() => unsafe {
            std::slice::from_raw_parts(argv.cast::<Arg>(), len)
        },
        _ => &[],
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| crate::on_load(&context, args)));
    match outcome {
        Ok(Ok(())) => raw::REDISMODULE_OK,
        Ok(Err(reason)) => {
            log(ctx, &format!("multimap: not loaded: {reason}"));
            raw::REDISMODULE_ERR
        }
        Err(panic) => {
            let text = super::command::panic_text(&*panic);
            log(
                ctx,
                &format!("multimap: not loaded, a bug aborted loading: {text}"),
            );
            raw::REDISMODULE_ERR
        }
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
        RedisModule_SetModuleOptions,
        RedisModule_CreateCommand,
        RedisModule_Log,
        RedisModule_LogIOError,
        RedisModule_WrongArity,
        RedisModule_ReplyWithLongLong,
        RedisModule_ReplyWithError,
        RedisModule_ReplyWithSimpleString,
        RedisModule_ReplyWithArray,
        RedisModule_ReplyWithEmptyArray,
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
        RedisModule_EmitAOF,
        RedisModule_DigestAddStringBuffer,
        RedisModule_DigestEndSequence,
    )
}

/// Short RDB reads come back as `IsIOError` instead of aborting the server,
/// which our loader relies on to reject bad payloads; and keys opened for
/// writing are not implicitly marked modified, because only a write that
/// changed data may invalidate WATCH (`Context::wrote` signals those).
pub(crate) fn set_module_options(ctx: &Context) {
    let options = raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS
        | raw::REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED;
    // SAFETY: the load context is live.
    unsafe { api!(RedisModule_SetModuleOptions)(ctx.as_ptr(), options) };
}

pub(crate) fn register_command(ctx: &Context, command: &Command) -> Result<(), String> {
    // SAFETY: the load context is live; the strings are static.
    let status = unsafe {
        api!(RedisModule_CreateCommand)(
            ctx.as_ptr(),
            command.name.as_ptr(),
            command.entry,
            command.flags.as_ptr(),
            command.first_key,
            command.last_key,
            command.key_step,
        )
    };
    if status == raw::REDISMODULE_OK {
        Ok(())
    } else {
        Err(format!("could not register command {:?}", command.name))
    }
}
