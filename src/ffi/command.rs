//! The one trampoline every command goes through: arity, catch_unwind, and the
//! single place where an `Error` becomes a reply.

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::context::{Arg, Context};
use super::raw;
use crate::error::Error;

pub type Handler = fn(&Context, &[Arg]) -> Result<(), Error>;
pub type RawCommand = raw::RedisModuleCmdFunc;

/// One row of the command table: what Redis needs to dispatch the command and
/// what `COMMAND INFO/DOCS`, ACL key permissions and cluster routing read.
pub struct Command {
    pub name: &'static CStr,
    pub flags: &'static CStr,
    /// Redis's convention: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub entry: RawCommand,
    pub summary: &'static CStr,
    pub complexity: &'static CStr,
    /// The module version that introduced the command.
    pub since: &'static CStr,
    /// What the command does to its one key (argument 1).
    pub key_access: KeyAccess,
    /// The arguments after the command name, in order.
    pub args: &'static [ArgDoc],
}

/// How a command touches its key, as Redis 7 key specs classify it.
#[derive(Clone, Copy)]
pub enum KeyAccess {
    /// Reads the value, never changes it.
    Read,
    /// Only adds data.
    Insert,
    /// Changes data in ways that depend on what is there.
    Update,
    /// Only removes data.
    Delete,
}

#[derive(Clone, Copy)]
pub enum ArgKind {
    Key,
    String,
    Integer,
    Pattern,
}

/// One documented argument.
pub struct ArgDoc {
    pub name: &'static CStr,
    pub kind: ArgKind,
    /// A keyword that precedes the value, like `MATCH` in SCAN.
    pub token: Option<&'static CStr>,
    pub optional: bool,
    pub multiple: bool,
}

impl ArgDoc {
    pub const fn new(name: &'static CStr, kind: ArgKind) -> ArgDoc {
        ArgDoc {
            name,
            kind,
            token: None,
            optional: false,
            multiple: false,
        }
    }

    pub const fn after_token(self, token: &'static CStr) -> ArgDoc {
        ArgDoc {
            token: Some(token),
            ..self
        }
    }

    pub const fn optional(self) -> ArgDoc {
        ArgDoc {
            optional: true,
            ..self
        }
    }

    pub const fn multiple(self) -> ArgDoc {
        ArgDoc {
            multiple: true,
            ..self
        }
    }
}

/// Builds a command table row, generating the `extern "C"` entry Redis calls.
/// Redis passes no user data to a command, so each command needs its own entry.
macro_rules! command {
    (
        name: $name:literal,
        handler: $handler:path,
        arity: $arity:literal,
        $($field:ident: $value:expr),* $(,)?
    ) => {
        $crate::ffi::Command {
            name: $name,
            arity: $arity,
            $($field: $value,)*
            first_key: 1,
            last_key: 1,
            key_step: 1,
            entry: {
                extern "C" fn entry(
                    ctx: *mut $crate::ffi::raw::RedisModuleCtx,
                    argv: *mut *mut $crate::ffi::raw::RedisModuleString,
                    argc: ::std::ffi::c_int,
                ) -> ::std::ffi::c_int {
                    // SAFETY: Redis calls a command with its live context and
                    // `argc` live argument strings.
                    unsafe { $crate::ffi::command::dispatch(ctx, argv, argc, $arity, $handler) }
                }
                Some(entry)
            },
        }
    };
}
pub(crate) use command;

/// Redis's convention: N means exactly N arguments (name included), -N at least N.
fn arity_allows(arity: i32, argc: usize) -> bool {
    let wanted = arity.unsigned_abs() as usize;
    if arity < 0 {
        argc >= wanted
    } else {
        argc == wanted
    }
}

/// Runs a handler and turns its result (or a panic) into exactly one reply.
///
/// # Safety
/// `ctx` must be the live context of the command being executed, and `argv` must
/// point to `argc` live strings.
pub unsafe fn dispatch(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    arity: i32,
    handler: Handler,
) -> c_int {
    // SAFETY: forwarded from the caller.
    let Some(context) = (unsafe { Context::from_raw(ctx) }) else {
        return raw::REDISMODULE_ERR;
    };
    let args: &[Arg] = match usize::try_from(argc) {
        Ok(len) if len > 0 && !argv.is_null() => {
            // SAFETY: Arg is a transparent non-null pointer to a Redis string
            // and Redis passes `argc` of them, alive for this call.
            unsafe { std::slice::from_raw_parts(argv.cast::<Arg>(), len) }
        }
        _ => &[],
    };
    // Handlers validate everything before their first reply, so a panic (a bug)
    // can only surface before any reply was written and one error reply is right.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if !arity_allows(arity, args.len()) {
            return Err(Error::WrongArity);
        }
        handler(&context, args)
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(Error::WrongArity)) => context.reply_wrong_arity(),
        Ok(Err(error)) => context.reply_error(error.message()),
        Err(panic) => {
            context.log_warning(&format!(
                "multimap: command aborted by a bug: {}",
                panic_text(&*panic)
            ));
            context.reply_error(Error::Internal.message());
        }
    }
    raw::REDISMODULE_OK
}

pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::arity_allows;

    #[test]
    fn positive_arity_is_exact_and_negative_is_a_minimum() {
        assert!(arity_allows(3, 3));
        assert!(!arity_allows(3, 4));
        assert!(!arity_allows(3, 2));
        assert!(arity_allows(-4, 4));
        assert!(arity_allows(-4, 100));
        assert!(!arity_allows(-4, 3));
    }
}
