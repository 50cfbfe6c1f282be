//! The only code that talks to Redis: generated bindings and the thin, safe
//! wrappers the rest of the crate uses. Nothing outside this module sees a raw
//! pointer, and nothing in it knows what the module stores: the data type and
//! the command table are handed down at load (`TypeMethods`, `CommandSet`).
//!
//! Inside, each file leans only on those listed before it:
//! raw, alloc → heap, log → string → context → reply, io, info → module_type → key →
//! command → load.

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

mod alloc;
mod blocking;
mod command;
mod context;
mod events;
mod heap;
mod info;
mod io;
mod key;
pub mod load;
mod log;
mod module_type;
mod raw;
mod reply;
mod string;

pub use alloc::usable_size;
pub use blocking::waiting_clients;
pub(crate) use command::read_handler;
pub use command::{
    register as register_commands, respond, ArgDoc, ArgKind, Attempt, Command, CommandSet, Handler,
    KeyAccess, Outcome, Rewrite,
};
pub use context::Context;
pub use context::{now_ms, Removals};
pub use events::{start_ticking, subscribe_db_events, subscribe_key_events, DbEvent, KeyEvent};
pub use heap::{Defrag, HeapSizes};
pub use info::{register_info, InfoFields, InfoSection};
pub use io::{AofWriter, Digest, IoError, KeyPlace, LoadedBuffer, RdbReader, RdbWriter};
pub use key::{peek_key, with_key_named, KeyEnv, ReadKey, WriteKey, WrongType};
pub use module_type::{DataType, TypeMethods};
pub use reply::{ErrorReply, ReplyOut, WriteReply};
pub use string::{Arg, OwnedArg};
