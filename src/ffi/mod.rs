//! The only code that talks to Redis: generated bindings and the thin, safe
//! wrappers the rest of the crate uses. Nothing outside this module sees a raw
//! pointer.

/// Reads an API function pointer that every supported server (6.2+) exports.
///
/// Loading checks them all (`load::missing_required_api`), so the
/// `expect` only fires if that check was bypassed.
macro_rules! api {
    ($name:ident) => {
        $crate::ffi::raw::$name.expect(concat!(
            stringify!($name),
            " is not exported by this server"
        ))
    };
}

pub mod alloc;
pub mod command;
pub mod context;
pub mod io;
pub mod key;
pub mod load;
pub mod module_type;
pub mod raw;

pub use command::Command;
pub use context::{Arg, Context};
pub use io::{AofWriter, Digest};
