//! What the server tells a module besides its own commands: a timer that
//! keeps firing on the main thread, keyspace events of keys that other
//! commands wrote (or loading placed), and whole databases flushed or
//! swapped. Each handler is a plain function given once at load; a panic in
//! one is logged and goes no further.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use super::context::Context;
use super::load::keyspace_events_are_unsafe;
use super::log::guarded;
use super::module_type::type_callbacks_name_their_key;
use super::raw;
use super::string::Arg;

/// Keyspace events of keys our commands did not write, and that the data
/// type's own callbacks did not name (see `type_callbacks_name_their_key`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEvent {
    /// Loading (an RDB file, DEBUG RELOAD, a replica's full sync) placed the key.
    Loaded,
    /// RESTORE (also how MIGRATE and resharding deliver a key) placed it.
    Restored,
    /// RENAME, MOVE or COPY made it from another key (perhaps in another
    /// database): the event names the new key.
    Arrived,
}

/// A change to a whole database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbEvent {
    /// FLUSHDB of one database, or FLUSHALL (`None`), is done.
    Flushed(Option<i32>),
    /// SWAPDB exchanged the contents of two databases.
    Swapped(i32, i32),
}

static TICK: OnceLock<fn(&Context) -> u64> = OnceLock::new();
static ON_KEY: OnceLock<fn(&Context, KeyEvent, &Arg)> = OnceLock::new();
static ON_DB: OnceLock<fn(DbEvent)> = OnceLock::new();

/// How long to wait before ticking again after a tick panicked.
const AFTER_A_PANIC_MS: u64 = 1000;

/// Calls `tick` on the main thread `first_ms` milliseconds from now, then
/// again each time after as many milliseconds as it returns, as long as the
/// server runs. Once per process.
pub fn start_ticking(
    ctx: &Context,
    first_ms: u64,
    tick: fn(&Context) -> u64,
) -> Result<(), String> {
    TICK.set(tick)
        .map_err(|_| "the module's timer was started twice".to_owned())?;
    arm(ctx, first_ms);
    Ok(())
}

fn arm(ctx: &Context, after_ms: u64) {
    let period = i64::try_from(after_ms).unwrap_or(i64::MAX);
    // SAFETY: the context is live for this callback; the timer carries no
    // data, and `ticked` is a plain function.
    unsafe {
        api!(RedisModule_CreateTimer)(ctx.as_ptr(), period, Some(ticked), std::ptr::null_mut())
    };
}

extern "C" fn ticked(ctx: *mut raw::RedisModuleCtx, _data: *mut c_void) {
    // SAFETY: the server calls a timer with a context live for the call.
    let Some(ctx) = (unsafe { Context::from_raw(ctx) }) else {
        return;
    };
    let Some(tick) = TICK.get() else {
        return;
    };
    let next = guarded("the expiry timer", || tick(&ctx)).unwrap_or(AFTER_A_PANIC_MS);
    arm(&ctx, next);
}

/// Hands every `KeyEvent` to `handler`, with a context on the key's
/// database. Returns false, subscribing to nothing, on a server where a
/// subscription would break other commands (Valkey 8, see
/// `load::keyspace_events_are_unsafe`).
pub fn subscribe_key_events(
    ctx: &Context,
    handler: fn(&Context, KeyEvent, &Arg),
) -> Result<bool, String> {
    if keyspace_events_are_unsafe() {
        return Ok(false);
    }
    ON_KEY
        .set(handler)
        .map_err(|_| "keyspace events subscribed twice".to_owned())?;
    // SAFETY: the load context is live; `key_event` is a plain function.
    let status = unsafe {
        api!(RedisModule_SubscribeToKeyspaceEvents)(
            ctx.as_ptr(),
            if type_callbacks_name_their_key() {
                raw::REDISMODULE_NOTIFY_GENERIC
            } else {
                raw::REDISMODULE_NOTIFY_GENERIC | raw::REDISMODULE_NOTIFY_LOADED
            },
            Some(key_event),
        )
    };
    match status {
        raw::REDISMODULE_OK => Ok(true),
        _ => Err("the server refused our keyspace event subscription".to_owned()),
    }
}

extern "C" fn key_event(
    ctx: *mut raw::RedisModuleCtx,
    _class: c_int,
    event: *const c_char,
    key: *mut raw::RedisModuleString,
) -> c_int {
    // SAFETY: the server calls this with a live context, a NUL-terminated
    // event name and the key's name, all alive for the call.
    let (Some(ctx), false) = (unsafe { Context::from_raw(ctx) }, event.is_null()) else {
        return raw::REDISMODULE_OK;
    };
    // SAFETY: as above.
    let event = unsafe { CStr::from_ptr(event) };
    let kind = match event.to_bytes() {
        b"rename_to" | b"move_to" => KeyEvent::Arrived,
        // Where the loader and COPY say which key they fill, these tell
        // nothing new; only Redis 6.2 needs them.
        _ if type_callbacks_name_their_key() => return raw::REDISMODULE_OK,
        b"loaded" => KeyEvent::Loaded,
        b"restore" => KeyEvent::Restored,
        b"copy_to" => KeyEvent::Arrived,
        _ => return raw::REDISMODULE_OK,
    };
    // SAFETY: as above: the name outlives this call, and `keys` with it.
    let keys = unsafe { Arg::slice(&raw const key as *mut _, 1) };
    if let (Some(handler), [key]) = (ON_KEY.get(), keys) {
        guarded("a keyspace event", || handler(&ctx, kind, key));
    }
    raw::REDISMODULE_OK
}

/// Hands every `DbEvent` to `handler`.
pub fn subscribe_db_events(ctx: &Context, handler: fn(DbEvent)) -> Result<(), String> {
    ON_DB
        .set(handler)
        .map_err(|_| "database events subscribed twice".to_owned())?;
    for id in [
        raw::REDISMODULE_EVENT_FLUSHDB,
        raw::REDISMODULE_EVENT_SWAPDB,
    ] {
        let event = raw::RedisModuleEvent {
            id: id as u64,
            dataver: 1,
        };
        // SAFETY: the load context is live; `db_event` is a plain function.
        let status = unsafe {
            api!(RedisModule_SubscribeToServerEvent)(ctx.as_ptr(), event, Some(db_event))
        };
        if status != raw::REDISMODULE_OK {
            return Err(format!("the server refused a subscription to event {id}"));
        }
    }
    Ok(())
}

extern "C" fn db_event(
    _ctx: *mut raw::RedisModuleCtx,
    event: raw::RedisModuleEvent,
    subevent: u64,
    data: *mut c_void,
) {
    if data.is_null() {
        return;
    }
    let change = match i32::try_from(event.id) {
        Ok(raw::REDISMODULE_EVENT_FLUSHDB)
            if subevent == raw::REDISMODULE_SUBEVENT_FLUSHDB_END as u64 =>
        {
            // SAFETY: for this event the server passes its flush info,
            // alive for the call.
            let info = unsafe { &*data.cast::<raw::RedisModuleFlushInfo>() };
            DbEvent::Flushed((info.dbnum >= 0).then_some(info.dbnum))
        }
        Ok(raw::REDISMODULE_EVENT_SWAPDB) => {
            // SAFETY: for this event the server passes its swap info, alive
            // for the call.
            let info = unsafe { &*data.cast::<raw::RedisModuleSwapDbInfo>() };
            DbEvent::Swapped(info.dbnum_first, info.dbnum_second)
        }
        _ => return,
    };
    if let Some(handler) = ON_DB.get() {
        guarded("a database event", || handler(change));
    }
}
