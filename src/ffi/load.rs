//! The Rust side of `RedisModule_OnLoad`: checks the server, sets the options
//! every module of ours needs, then hands over to the module's own load
//! function, which registers its types and commands through this layer.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use super::context::Context;
use super::log::{guarded, log_warning};
use super::raw;
use super::string::Arg;

/// Runs `on_load` for c/shim.c's RedisModule_OnLoad (`valkey` false) or
/// ValkeyModule_OnLoad (`valkey` true), once the API pointers are resolved;
/// its `Err` (or a panic) fails the load with a log line.
///
/// # Safety
/// The server's load context and its `argc` module arguments, as passed to
/// OnLoad.
pub unsafe fn run(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    valkey: bool,
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
    set_module_options(&context, valkey);
    // Valkey 9 came with atomic slot migration and without the bug.
    let notification_bug =
        valkey && known_options() & raw::VALKEYMODULE_OPTIONS_HANDLE_ATOMIC_SLOT_MIGRATION == 0;
    NOTIFICATIONS_SWITCH_THE_CALLERS_DB.store(notification_bug, Relaxed);
    match guarded("loading", || on_load(&context, args)) {
        Some(Ok(())) => raw::REDISMODULE_OK,
        Some(Err(reason)) => {
            log_warning(ctx, &format!("multimap: not loaded: {reason}"));
            raw::REDISMODULE_ERR
        }
        None => raw::REDISMODULE_ERR,
    }
}

/// Valkey 8.1 runs a module's keyspace-event callback on the client whose
/// command fired the event and selects the event's database on it without
/// selecting the client's own back (valkey-io/valkey#4024): with any
/// subscription to generic events, `MOVE k 1` or `COPY a b DB 1` leaves the
/// caller's connection on database 1. There we subscribe to none.
static NOTIFICATIONS_SWITCH_THE_CALLERS_DB: AtomicBool = AtomicBool::new(false);

/// Whether subscribing to keyspace events would break other commands (see
/// `NOTIFICATIONS_SWITCH_THE_CALLERS_DB`).
pub(super) fn keyspace_events_are_unsafe() -> bool {
    NOTIFICATIONS_SWITCH_THE_CALLERS_DB.load(Relaxed)
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
        RedisModule_ReplyWithNullArray,
        RedisModule_ReplyWithSimpleString,
        RedisModule_ReplyWithStringBuffer,
        RedisModule_StringPtrLen,
        RedisModule_CreateString,
        RedisModule_FreeString,
        RedisModule_StringToDouble,
        RedisModule_GetContextFlags,
        RedisModule_OpenKey,
        RedisModule_CloseKey,
        RedisModule_KeyType,
        RedisModule_DeleteKey,
        RedisModule_ReplicateVerbatim,
        RedisModule_Replicate,
        RedisModule_BlockClientOnKeys,
        RedisModule_SignalKeyAsReady,
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
        RedisModule_RegisterInfoFunc,
        RedisModule_InfoAddSection,
        RedisModule_InfoAddFieldLongLong,
        RedisModule_Milliseconds,
        RedisModule_CreateTimer,
        RedisModule_GetSelectedDb,
        RedisModule_SelectDb,
        RedisModule_SubscribeToKeyspaceEvents,
        RedisModule_SubscribeToServerEvent,
    )
}

/// Short RDB reads come back as `IsIOError` instead of aborting the server,
/// which our loader relies on to reject bad payloads; and keys opened for
/// writing are not implicitly marked modified, because only a write that
/// changed data may invalidate WATCH (the command trampoline signals those).
///
/// Valkey 9 refuses `CLUSTER MIGRATESLOTS` while a loaded module has not
/// declared it can take atomic slot migration, so we declare it wherever the
/// server knows that option: the migration carries a key as the commands our
/// aof_rewrite emits (its field expiries as PEXPIREAT, which also puts the
/// key on the target's expiry schedule), so one imported before its slot
/// changes owner needs nothing else from us. The bit is
/// Valkey's, so only a server that entered through ValkeyModule_OnLoad gets it.
fn set_module_options(ctx: &Context, valkey: bool) {
    let mut options = raw::REDISMODULE_OPTIONS_HANDLE_IO_ERRORS
        | raw::REDISMODULE_OPTION_NO_IMPLICIT_SIGNAL_MODIFIED;
    let atomic_slot_migration = raw::VALKEYMODULE_OPTIONS_HANDLE_ATOMIC_SLOT_MIGRATION;
    if valkey && known_options() & atomic_slot_migration != 0 {
        options |= atomic_slot_migration;
    }
    // SAFETY: the load context is live.
    unsafe { api!(RedisModule_SetModuleOptions)(ctx.as_ptr(), options) };
}

/// Every option the server knows (Redis 7.2+, Valkey), or none where it
/// cannot say.
fn known_options() -> c_int {
    // SAFETY: an optional API without arguments, read after the shim resolved it.
    unsafe { raw::RedisModule_GetModuleOptionsAll.map_or(0, |all| all()) }
}
