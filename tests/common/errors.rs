//! The exact error texts clients receive (SPEC.md, "Errors"), and the
//! malformed arguments that must provoke them.

use redis::{ConnectionLike, ToRedisArgs, Value};

use super::client::command;

/// Any command on a key of another type.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
/// `start`, `stop` or `COUNT` that is not a 64-bit integer.
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
/// An unknown option, an option missing its value, `COUNT` below 1.
pub const SYNTAX: &str = "ERR syntax error";
/// A SCAN cursor that is not an unsigned 64-bit decimal.
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
/// A command that panicked (a bug; tests/panics.rs provokes it on purpose).
pub const INTERNAL_ERROR: &str = "ERR internal error in the multimap module, see the server log";
/// RESTORE of a payload the loader rejects.
pub const BAD_DATA_FORMAT: &str = "ERR Bad data format";
/// RESTORE onto an existing key without REPLACE.
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
/// A `deny-oom` command over `maxmemory` with `noeviction`.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// MODULE UNLOAD of a module that exports a data type.
pub const UNLOAD_REFUSED: &str =
    "ERR Error unloading module: the module exports one or more module-side data types, can't unload";

/// POP's COUNT (and LPOP's count) that is not an integer or is negative.
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
/// SET (as LSET) on a missing key or field.
pub const NO_SUCH_KEY: &str = "ERR no such key";
/// SET (as LSET) at an index past either end.
pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
/// POS (as LPOS on Redis 7.0) with RANK 0.
pub const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, \
                             2 from the second ... or use negative to start from the end of the list";
/// POS's COUNT that is not an integer or is negative.
pub const POS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
/// POS's MAXLEN that is not an integer or is negative.
pub const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
/// BPOP's COUNT that is not an integer or is below 1 (as BLMPOP's).
pub const COUNT_NOT_ABOVE_ZERO: &str = "ERR count should be greater than 0";
/// A BPOP timeout that is no number.
pub const TIMEOUT_NOT_A_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
/// A BPOP timeout too large to add to the clock (newer servers' text: Redis
/// 7.0 wraps around and says the timeout is negative).
pub const TIMEOUT_OUT_OF_RANGE: &str = "ERR timeout is out of range";

/// Redis's own arity error. Redis 7 names the command in lower case; 6.2
/// echoes it as the client typed it, so send the lower-case name.
pub fn arity_error(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// Arguments that are not 64-bit integers by Redis's rules.
pub const NOT_INTEGERS: [&str; 8] = [
    "a",
    "1.5",
    "",
    "1a",
    " 1",
    "0x10",
    "9223372036854775808",
    "-9223372036854775809",
];

/// SCAN `COUNT` values that are not integers.
pub const NOT_INTEGER_COUNTS: [&str; 5] = ["abc", "1.5", "", "10x", "99999999999999999999"];

/// SCAN `COUNT` values below 1: a syntax error, as for native SCAN.
pub const COUNTS_BELOW_ONE: [&str; 4] = ["0", "-1", "-10", "-9223372036854775808"];

/// SCAN cursors that are not unsigned 64-bit decimals.
pub const MALFORMED_CURSORS: [&str; 10] = [
    "abc",
    "-1",
    "1.5",
    "",
    " 0",
    "0 ",
    "0x10",
    "1e3",
    "18446744073709551616",
    "99999999999999999999999999",
];

/// SCAN options (after the cursor) that MULTIMAP.SCAN does not know.
pub const UNKNOWN_SCAN_OPTIONS: [&[&str]; 6] = [
    &["FOO", "bar"],
    &["TYPE", "string"],
    &["NOVALUES"],
    &["MATCH", "*", "FOO", "bar"],
    &["COUNT", "10", "LIMIT", "5"],
    &["MATCHX", "*"],
];

/// SCAN options whose last one misses its value.
pub const SCAN_OPTIONS_MISSING_VALUE: [&[&str]; 5] = [
    &["MATCH"],
    &["COUNT"],
    &["MATCH", "*", "COUNT"],
    &["COUNT", "10", "MATCH"],
    &["COUNT", "10", "MATCH", "*", "COUNT"],
];

/// The whole error line a server replied, as redis-cli shows it: the code and
/// its detail, e.g. `ERR syntax error` or `WRONGTYPE Operation against ...`.
pub fn error_text(error: &redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => panic!("not an error reply from the server: {error:?}"),
    }
}

/// The error line of an error reply in place (a pipeline with
/// `ignore_errors`), or None for any other reply.
pub fn error_line(reply: &Value) -> Option<String> {
    match reply {
        Value::ServerError(error) => Some(match error.details() {
            Some(detail) => format!("{} {detail}", error.code()),
            None => error.code().to_owned(),
        }),
        _ => None,
    }
}

/// Sends a command line that must fail and returns the server's error line.
pub fn error_reply(con: &mut impl ConnectionLike, line: impl ToRedisArgs) -> String {
    match command(line).query::<Value>(con) {
        Ok(value) => panic!("expected an error reply, got {value:?}"),
        Err(error) => error_text(&error),
    }
}

/// An expiry time below 0 (as HEXPIRE's on Redis 7.4+).
pub const EXPIRE_TIME_NEGATIVE: &str = "ERR invalid expire time, must be >= 0";
/// The expiry family without `FIELDS` where it belongs (after the time and
/// the optional condition; after the key for the TTL family and PERSIST).
pub const FIELDS_MISSING: &str =
    "ERR Mandatory argument FIELDS is missing or not at the right position";
/// The EXPIRE family's numfields that is not an integer of at least 1.
pub const NUMFIELDS_NOT_ABOVE_ZERO: &str = "ERR Parameter `numFields` should be greater than 0";
/// The TTL family's and PERSIST's numfields that is not an integer of at least 1.
pub const NUMFIELDS_NOT_POSITIVE: &str = "ERR Number of fields must be a positive integer";
/// A numfields that is not the number of fields given after it.
pub const NUMFIELDS_MISMATCH: &str =
    "ERR The `numfields` parameter must match the number of arguments";

/// An expiry time past 2^46 - 1 ms once made absolute, named after the
/// command as Redis names it (`multimap.pexpireat`).
pub fn invalid_expire_time(name: &str) -> String {
    format!("ERR invalid expire time in '{name}' command")
}
