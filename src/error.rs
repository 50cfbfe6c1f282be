//! Every way a command can fail, and the exact reply each one gets.
#![forbid(unsafe_code)]

use std::ffi::CStr;

use crate::ffi::{ErrorReply, WrongType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    WrongType,
    NotAnInteger,
    Syntax,
    InvalidCursor,
    /// LSET's reply for a missing list, here a missing field.
    NoSuchKey,
    IndexOutOfRange,
    /// A pop count (LPOP's rule) below zero or not a number.
    NotPositive,
    /// A blocking pop count (BLMPOP's rule) below one or not a number.
    CountNotAboveZero,
    TimeoutNotANumber,
    TimeoutNegative,
    TimeoutOutOfRange,
    RankZero,
    /// LPOS's COUNT below zero or not a number.
    MatchCountNegative,
    MaxlenNegative,
    NegativeExpireTime,
    /// An expiry time past what a field may have; the text names the
    /// command, as Redis's does.
    ExpireTimeOutOfRange(&'static CStr),
    FieldsMissing,
    /// The EXPIRE family's text for a field count below one.
    NumFieldsNotAboveZero,
    /// TTL's and PERSIST's text for the same.
    FieldCountNotPositive,
    NumFieldsMismatch,
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
            Error::NoSuchKey => c"ERR no such key",
            Error::IndexOutOfRange => c"ERR index out of range",
            Error::NotPositive => c"ERR value is out of range, must be positive",
            Error::CountNotAboveZero => c"ERR count should be greater than 0",
            Error::TimeoutNotANumber => c"ERR timeout is not a float or out of range",
            Error::TimeoutNegative => c"ERR timeout is negative",
            Error::TimeoutOutOfRange => c"ERR timeout is out of range",
            Error::RankZero => c"ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
            Error::MatchCountNegative => c"ERR COUNT can't be negative",
            Error::MaxlenNegative => c"ERR MAXLEN can't be negative",
            Error::NegativeExpireTime => c"ERR invalid expire time, must be >= 0",
            Error::ExpireTimeOutOfRange(text) => text,
            Error::FieldsMissing => {
                c"ERR Mandatory argument FIELDS is missing or not at the right position"
            }
            Error::NumFieldsNotAboveZero => c"ERR Parameter `numFields` should be greater than 0",
            Error::FieldCountNotPositive => c"ERR Number of fields must be a positive integer",
            Error::NumFieldsMismatch => {
                c"ERR The `numfields` parameter must match the number of arguments"
            }
        })
    }
}

impl From<WrongType> for Error {
    fn from(_: WrongType) -> Error {
        Error::WrongType
    }
}
