//! The Rust side of `RedisModule_OnLoad`, and the registration calls only a
//! load context may make.

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::command::{ArgDoc, ArgKind, Command, KeyAccess};
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
    if status != raw::REDISMODULE_OK {
        return Err(format!("could not register command {:?}", command.name));
    }
    set_command_info(ctx, command)
}

/// Describes the command to Redis 7.0+ (arity, docs, key specs); servers
/// without the API get only what CreateCommand said, which is all they use.
fn set_command_info(ctx: &Context, command: &Command) -> Result<(), String> {
    // SAFETY: optional APIs, read after the shim resolved them.
    let (Some(get_command), Some(set_command_info)) =
        (unsafe { (raw::RedisModule_GetCommand, raw::RedisModule_SetCommandInfo) })
    else {
        return Ok(());
    };
    let key_flags = match command.key_access {
        KeyAccess::Read => raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS,
        KeyAccess::Insert => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_INSERT,
        KeyAccess::Update => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE,
        KeyAccess::Delete => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_DELETE,
    };
    // One key, at argument 1: begin at index 1, a range of one key.
    let mut key_specs = [
        raw::RedisModuleCommandKeySpec {
            flags: key_flags as u64,
            begin_search_type: raw::REDISMODULE_KSPEC_BS_INDEX,
            bs: raw::RedisModuleCommandKeySpec__bindgen_ty_1 {
                index: raw::RedisModuleCommandKeySpec__bindgen_ty_1__bindgen_ty_1 { pos: 1 },
            },
            find_keys_type: raw::REDISMODULE_KSPEC_FK_RANGE,
            fk: raw::RedisModuleCommandKeySpec__bindgen_ty_2 {
                range: raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
            ..Default::default()
        },
        raw::RedisModuleCommandKeySpec::default(),
    ];
    let mut args: Vec<raw::RedisModuleCommandArg> = command
        .args
        .iter()
        .map(raw_arg)
        .chain([raw::RedisModuleCommandArg::default()])
        .collect();
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let info = raw::RedisModuleCommandInfo {
        version: &version,
        summary: command.summary.as_ptr(),
        complexity: command.complexity.as_ptr(),
        since: command.since.as_ptr(),
        arity: command.arity,
        key_specs: key_specs.as_mut_ptr(),
        args: args.as_mut_ptr(),
        ..Default::default()
    };
    // SAFETY: the load context is live; `info` and everything it points to
    // (zero-terminated arrays, static strings) outlive the call, and Redis
    // copies what it keeps.
    let status = unsafe {
        let handle = get_command(ctx.as_ptr(), command.name.as_ptr());
        if handle.is_null() {
            raw::REDISMODULE_ERR
        } else {
            set_command_info(handle, &info)
        }
    };
    if status == raw::REDISMODULE_OK {
        Ok(())
    } else {
        Err(format!(
            "Redis refused the description of command {:?}",
            command.name
        ))
    }
}

fn raw_arg(arg: &ArgDoc) -> raw::RedisModuleCommandArg {
    let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
    if arg.optional {
        flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
    }
    if arg.multiple {
        flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
    }
    let kind = match arg.kind {
        ArgKind::Key => raw::REDISMODULE_ARG_TYPE_KEY,
        ArgKind::String => raw::REDISMODULE_ARG_TYPE_STRING,
        ArgKind::Integer => raw::REDISMODULE_ARG_TYPE_INTEGER,
        ArgKind::Pattern => raw::REDISMODULE_ARG_TYPE_PATTERN,
    };
    raw::RedisModuleCommandArg {
        name: arg.name.as_ptr(),
        type_: kind,
        // Our only key spec is number 0; other arguments name none.
        key_spec_index: if matches!(arg.kind, ArgKind::Key) {
            0
        } else {
            -1
        },
        token: arg.token.map_or(std::ptr::null(), CStr::as_ptr),
        flags,
        ..Default::default()
    }
}
