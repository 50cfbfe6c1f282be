//! Every way a command can fail, and the exact reply each one gets.

use std::ffi::CStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    WrongType,
    /// Replied through `RedisModule_WrongArity`, so clients see Redis's own text.
    WrongArity,
    NotAnInteger,
    Syntax,
    InvalidCursor,
    /// A bug, or Redis refusing something it should not: never the user's fault.
    Internal,
}

impl Error {
    pub fn message(self) -> &'static CStr {
        match self {
            Error::WrongType => {
                c"WRONGTYPE Operation against a key holding the wrong kind of value"
            }
            Error::WrongArity => c"ERR wrong number of arguments",
            Error::NotAnInteger => c"ERR value is not an integer or out of range",
            Error::Syntax => c"ERR syntax error",
            Error::InvalidCursor => c"ERR invalid cursor",
            Error::Internal => c"ERR internal error in the multimap module, see the server log",
        }
    }
}
