//! redis-multimap: a Redis module adding the MultiMap data type, a key whose
//! fields each hold an ordered list of binary-safe values.

#![warn(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

mod commands;
mod datatype;
mod error;
mod ffi;
pub mod glob;
pub mod multimap;
pub mod rdb;

use std::ffi::CStr;

use ffi::{Arg, Context};

/// The data type's name as `TYPE` shows it: the original redis-multi-map
/// module's, so RDB files it wrote still load. Redis requires exactly 9 chars.
const TYPE_NAME: &CStr = c"rmultimap";

/// Registers the data type and every command. The shim has already registered
/// the module itself under the name `multimap`.
fn on_load(ctx: &Context, args: &[Arg]) -> Result<(), String> {
    if let Some(unknown) = args.first() {
        return Err(format!(
            "unknown module argument '{}' (this module takes none)",
            unknown.as_bytes().escape_ascii()
        ));
    }
    ffi::load::set_module_options(ctx);
    ffi::module_type::register(ctx, TYPE_NAME, rdb::ENCODING_VERSION)?;
    for command in commands::COMMANDS {
        ffi::load::register_command(ctx, command)?;
    }
    Ok(())
}
