//! Every way a command can fail, and the exact reply each one gets.
#![forbid(unsafe_code)]

use crate::ffi::{ErrorReply, WrongType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    WrongType,
    NotAnInteger,
    Syntax,
    InvalidCursor,
}

/// The reply to a command that panicked: a bug, never the user's fault.
pub const INTERNAL_ERROR: ErrorReply =
    ErrorReply::Message(c"ERR internal error in the multimap module, see the server log");

impl From<Error> for ErrorReply {
    fn from(error: Error) -> ErrorReply {
        ErrorReply::Message(match error {
            Error::WrongType => {
                c"WRONGTYPE Operation against a key holding the wrong kind of value"
            }
            Error::NotAnInteger => c"ERR value is not an integer or out of range",
            Error::Syntax => c"ERR syntax error",
            Error::InvalidCursor => c"ERR invalid cursor",
        })
    }
}

impl From<WrongType> for Error {
    fn from(_: WrongType) -> Error {
        Error::WrongType
    }
}
