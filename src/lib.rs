//! redis-multimap: a Redis module adding the MultiMap data type, a key whose
//! fields each hold an ordered list of binary-safe values.
//!
//! Layers point one way: `ffi` (the only unsafe code, and the only code that
//! calls Redis) knows nothing of MultiMaps; `multimap`, `rdb` and `glob` know
//! nothing of Redis; `datatype`, `commands`, `reply` and `info` join the two.
//! This file hands the data type, the command table and the INFO section
//! down to `ffi` at load.

#![warn(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

mod commands;
mod datatype;
mod error;
mod expire;
mod faults;
mod ffi;
pub mod glob;
mod info;
pub mod multimap;
pub mod rdb;
mod reply;

use std::ffi::{c_int, CStr};

use ffi::{Arg, Context};

/// The data type's name as `TYPE` shows it: the original redis-multi-map
/// module's, so RDB files it wrote still load. Redis requires exactly 9 chars.
const TYPE_NAME: &CStr = c"rmultimap";

/// Called by c/shim.c once the API pointers are resolved; `valkey` is
/// nonzero when the server entered through ValkeyModule_OnLoad.
///
/// # Safety
/// The server's load context and its `argc` module arguments, as passed to
/// OnLoad.
#[no_mangle]
pub unsafe extern "C" fn multimap_on_load(
    ctx: *mut std::ffi::c_void,
    argv: *mut *mut std::ffi::c_void,
    argc: c_int,
    valkey: c_int,
) -> c_int {
    // SAFETY: forwarded from the shim, which passes what the server passed.
    unsafe { ffi::load::run(ctx.cast(), argv.cast(), argc, valkey != 0, on_load) }
}

/// Registers the data type and every command. The shim has already registered
/// the module itself under the name `multimap`.
fn on_load(ctx: &Context, args: &[Arg]) -> Result<(), String> {
    if let Some(unknown) = args.first() {
        return Err(format!(
            "unknown module argument '{}' (this module takes none)",
            unknown.as_bytes().escape_ascii()
        ));
    }
    let [small, larger] = multimap::allocator_probe_requests();
    if let (Some(small), Some(larger)) = (ffi::usable_size(small), ffi::usable_size(larger)) {
        multimap::learn_allocator_rounding([small, larger]);
    }
    datatype::MULTIMAP.register(ctx, TYPE_NAME, rdb::ENCODING_VERSION)?;
    ffi::register_commands::<commands::MultiMapCommands>(ctx)?;
    ffi::register_info::<info::Totals>(ctx)?;
    if !ffi::subscribe_key_events(ctx, expire::on_key_event)? {
        expire::follow_keys_through_writes();
        ctx.log_notice(
            "multimap: this server breaks MOVE and COPY for modules that subscribe to keyspace \
             events (Valkey 8); keys with field expiries that RENAME or MOVE brings are removed \
             by active expiry once a MULTIMAP write touches them",
        );
    }
    ffi::subscribe_db_events(ctx, expire::on_db_event)?;
    ffi::start_ticking(ctx, expire::IDLE_PERIOD_MS, expire::tick)
}
