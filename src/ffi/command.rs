//! Commands: the table a module hands down at load, the `extern "C"` entry
//! points generated for it, and the one trampoline every call goes through
//! (arity, opening the key, catch_unwind, the single place an error or a
//! reply is written, and what a changed key owes the rest of Redis).

use std::any::Any;
use std::cell::Cell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::context::{Context, Removals};
use super::key::{ReadKey, WriteKey};
use super::log::panic_text;
use super::raw;
use super::reply::{reply_error, ErrorReply, ReplyOut, WriteReply};
use super::string::Arg;

/// A module's commands, as one table of rows. Every command names exactly one
/// key, as argument 1, which the trampoline opens before calling the handler.
pub trait CommandSet: 'static {
    /// What write handlers reply on success.
    type Reply: WriteReply;
    type Error: Into<ErrorReply>;
    /// The reply to a command that panicked (a bug, never the user's fault).
    const INTERNAL_ERROR: ErrorReply;
    /// The ACL category holding every command of the set, where the server
    /// lets modules add categories.
    const ACL_CATEGORY: &'static CStr;
    const COMMANDS: &'static [Command<Self>];
    /// How a write propagates the parts of its key it found expired and
    /// removed (`Outcome::with_expired`): one `EXPIRED_REMOVAL key part`
    /// command each, and one `EXPIRED_EVENT`.
    const EXPIRED_REMOVAL: &'static CStr;
    const EXPIRED_EVENT: &'static CStr;
}

/// A read handler borrows its key read-only and may reply straight from the
/// key's value; a write handler borrows the key for writing and says what
/// changed.
pub enum Handler<C: CommandSet + ?Sized> {
    /// A read handler `fn(&'k ReadKey, &[Arg]) -> Result<R, E>` whose reply
    /// `R` borrows from the key, adapted by `read_handler!`: Rust cannot name
    /// "a reply type borrowing for any `'k`" in a function pointer, so the
    /// adapter writes the reply inside the call, through `respond`.
    Read(for<'k> fn(&'k ReadKey<'_>, &'k [Arg], ReplyOut<'_>) -> Result<(), ErrorReply>),
    Write(fn(&mut WriteKey<'_>, &[Arg]) -> WriteResult<C>),
    /// A write that may find nothing to do yet: its client then waits on
    /// the key, and the handler runs again each time the key changes, until
    /// it is done or the wait times out. Where the client may not wait
    /// (MULTI/EXEC, scripts) it gets the timeout's reply at once.
    Blocking(fn(&mut WriteKey<'_>, &[Arg]) -> BlockingResult<C>),
}

pub type WriteResult<C> = Result<Outcome<<C as CommandSet>::Reply>, <C as CommandSet>::Error>;
pub type BlockingResult<C> = Result<Attempt<<C as CommandSet>::Reply>, <C as CommandSet>::Error>;

/// What a blocking handler found.
pub enum Attempt<R> {
    Done(Outcome<R>),
    /// Nothing to do until the key changes: wait at most `timeout_ms`
    /// milliseconds (0: no limit), then reply a null array.
    Wait {
        timeout_ms: i64,
    },
}

/// The table row of a read handler: `read_handler!(get)`.
macro_rules! read_handler {
    ($handler:path) => {
        $crate::ffi::Handler::Read(|key, args, out| $crate::ffi::respond($handler(key, args), out))
    };
}
pub(crate) use read_handler;

/// Writes a read handler's reply, or hands its error to the trampoline.
#[inline(always)]
pub fn respond<R: WriteReply, E: Into<ErrorReply>>(
    result: Result<R, E>,
    out: ReplyOut<'_>,
) -> Result<(), ErrorReply> {
    result.map(|reply| reply.write(out)).map_err(Into::into)
}

/// A write's reply and whether it changed data. Only a change invalidates
/// WATCH, fires a keyspace event (then `del` if the key went) and is
/// replicated. A value the write left empty deletes its key whatever the
/// handler reports, an error or a panic included.
pub struct Outcome<R> {
    reply: R,
    event: Option<&'static CStr>,
    replicated_as: Option<Rewrite>,
    expired: Vec<Vec<u8>>,
}

/// The command replicas and the AOF get in place of the one received, for a
/// command whose effect depends on more than its arguments.
pub struct Rewrite {
    pub command: &'static CStr,
    /// The arguments after the key.
    pub args: Vec<Vec<u8>>,
}

impl<R> Outcome<R> {
    /// Data changed: `event` names the keyspace event to fire.
    pub fn changed(event: &'static CStr, reply: R) -> Outcome<R> {
        Outcome::changed_if(true, event, reply)
    }

    pub fn unchanged(reply: R) -> Outcome<R> {
        Outcome {
            reply,
            event: None,
            replicated_as: None,
            expired: Vec::new(),
        }
    }

    /// `changed` if `changed` holds, else `unchanged`.
    pub fn changed_if(changed: bool, event: &'static CStr, reply: R) -> Outcome<R> {
        Outcome {
            reply,
            event: changed.then_some(event),
            replicated_as: None,
            expired: Vec::new(),
        }
    }

    /// Before its own change, the write removed these parts of its key
    /// because they had expired: they are propagated and announced first,
    /// as removals of their own (see `CommandSet::EXPIRED_REMOVAL`).
    pub fn with_expired(self, expired: Vec<Vec<u8>>) -> Outcome<R> {
        Outcome { expired, ..self }
    }

    /// Replicates the change as `rewrite` on the same key rather than as the
    /// command received.
    pub fn replicated_as(self, rewrite: Rewrite) -> Outcome<R> {
        Outcome {
            replicated_as: Some(rewrite),
            ..self
        }
    }
}

/// One row of the command table: what Redis needs to dispatch the command and
/// what `COMMAND INFO/DOCS`, ACL key permissions and cluster routing read.
pub struct Command<C: CommandSet + ?Sized> {
    pub name: &'static CStr,
    pub handler: Handler<C>,
    pub flags: &'static CStr,
    /// Redis's convention: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub summary: &'static CStr,
    pub complexity: &'static CStr,
    /// The module version that introduced the command.
    pub since: &'static CStr,
    /// What the command does to its key, as Redis 7 key specs classify it.
    pub key_access: KeyAccess,
    /// The arguments after the command name, in order.
    pub args: &'static [ArgDoc],
}

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
    /// Removes data and returns it, as a pop.
    Take,
}

#[derive(Clone, Copy)]
pub enum ArgKind {
    Key,
    String,
    Integer,
    Double,
    /// A Unix time.
    UnixTime,
    Pattern,
    /// Exactly one of these keywords.
    OneOf(&'static [&'static CStr]),
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

/// Redis passes a command no user data, so each row needs an entry point of
/// its own: `entry::<C, I>` serves row `I`, a constant the compiler folds, so
/// each entry calls its handler directly.
extern "C" fn entry<C: CommandSet, const I: usize>(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    let Some(command) = C::COMMANDS.get(I) else {
        return raw::REDISMODULE_ERR;
    };
    // SAFETY: Redis calls a command with its live context and `argc` live
    // argument strings, alive for this call.
    let Some(ctx) = (unsafe { Context::from_raw(ctx) }) else {
        return raw::REDISMODULE_ERR;
    };
    // SAFETY: as above.
    let args = unsafe { Arg::slice(argv, argc) };
    dispatch::<C, I>(command, &ctx, args, Some(ready::<C, I>));
    raw::REDISMODULE_OK
}

/// The server's retry of row `I`'s blocking handler for a client waiting on
/// its key, after a write signalled the key: OK once the client is served,
/// ERR to keep it waiting.
extern "C" fn ready<C: CommandSet, const I: usize>(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    let Some(Command {
        name,
        handler: Handler::Blocking(handler),
        ..
    }) = C::COMMANDS.get(I)
    else {
        return raw::REDISMODULE_ERR;
    };
    // SAFETY: the server calls this with the waiting client's live context
    // and the `argc` arguments of the command that blocked, alive for this
    // call.
    let Some(ctx) = (unsafe { Context::from_raw(ctx) }) else {
        return raw::REDISMODULE_ERR;
    };
    // SAFETY: as above.
    let args = unsafe { Arg::slice(argv, argc) };
    let started = Cell::new(false);
    match retry::<C>(*handler, &ctx, args, &started) {
        Ok(true) => raw::REDISMODULE_OK,
        Ok(false) => raw::REDISMODULE_ERR,
        // A bug: answer the client (with an error unless its reply began)
        // rather than retry it forever.
        Err(panic) => {
            log_panic(&ctx, name, &*panic);
            if !started.get() {
                reply_error(&ctx, C::INTERNAL_ERROR);
            }
            raw::REDISMODULE_OK
        }
    }
}

/// Runs a blocking handler again for a waiting client; true if it served
/// the client. Anything short of done (the key missing, of another type, or
/// still without what the client waits for) keeps the client waiting.
fn retry<C: CommandSet>(
    handler: fn(&mut WriteKey<'_>, &[Arg]) -> BlockingResult<C>,
    ctx: &Context,
    args: &[Arg],
    started: &Cell<bool>,
) -> Result<bool, Box<dyn Any + Send>> {
    let Some(key_name) = args.get(1) else {
        return Ok(false);
    };
    write_key(ctx, key_name, |key| {
        let attempt = handler(key, args);
        let deleted = key.end();
        match attempt {
            // The server wakes waiters key by key on its own; a served
            // client signals nothing.
            Ok(Attempt::Done(outcome)) => {
                finish::<C>(ctx, key_name, outcome, deleted, started, false);
                true
            }
            _ => false,
        }
    })
}

macro_rules! entry_points {
    ($($index:literal)*) => {
        /// The most commands one table may hold.
        pub const MAX_COMMANDS: usize = [$($index),*].len();

        fn entry_points<C: CommandSet>() -> [raw::RedisModuleCmdFunc; MAX_COMMANDS] {
            [$(Some(entry::<C, $index>)),*]
        }
    };
}

entry_points!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

/// Redis's convention: N means exactly N arguments (name included), -N at least N.
fn arity_allows(arity: i32, argc: usize) -> bool {
    let wanted = arity.unsigned_abs() as usize;
    if arity < 0 {
        argc >= wanted
    } else {
        argc == wanted
    }
}

enum Failure {
    Refused(ErrorReply),
    Panicked(Box<dyn Any + Send>),
}

/// Runs one command call and writes exactly one reply: the handler's, or an
/// error. A panic after the reply began (only possible while writing it)
/// leaves the reply complete, its missing elements written as nulls.
///
/// Inlined into each entry point, so that the row, hence the handler, is a
/// constant there: the handler is called directly, and small ones inline.
#[inline(always)]
fn dispatch<C: CommandSet, const I: usize>(
    command: &Command<C>,
    ctx: &Context,
    args: &[Arg],
    ready: raw::RedisModuleCmdFunc,
) {
    let started = Cell::new(false);
    let outcome = run::<C, I>(command, ctx, args, &started, ready);
    match outcome {
        Ok(()) => {}
        Err(Failure::Refused(error)) => reply_error(ctx, error),
        Err(Failure::Panicked(panic)) => {
            log_panic(ctx, command.name, &*panic);
            if !started.get() {
                reply_error(ctx, C::INTERNAL_ERROR);
            }
        }
    }
}

#[cold]
#[inline(never)]
fn log_panic(ctx: &Context, command: &CStr, panic: &(dyn Any + Send)) {
    ctx.log_warning(&format!(
        "multimap: {} aborted by a bug: {}",
        command.to_string_lossy(),
        panic_text(panic)
    ));
}

#[inline(always)]
fn run<C: CommandSet, const I: usize>(
    command: &Command<C>,
    ctx: &Context,
    args: &[Arg],
    started: &Cell<bool>,
    ready: raw::RedisModuleCmdFunc,
) -> Result<(), Failure> {
    let Some(key_name) = args
        .get(1)
        .filter(|_| arity_allows(command.arity, args.len()))
    else {
        return Err(Failure::Refused(ErrorReply::WrongArity));
    };
    let refused = |error: C::Error| Failure::Refused(error.into());
    match command.handler {
        Handler::Read(handler) => {
            let key = ReadKey::open(ctx, key_name);
            caught(|| handler(&key, args, ReplyOut::top(ctx, started)))?.map_err(Failure::Refused)
        }
        Handler::Write(_) => write_key(ctx, key_name, |key| {
            let ran = write_handler::<C, I>()(key, args);
            let deleted = key.end();
            match ran {
                Ok(outcome) => {
                    finish::<C>(ctx, key_name, outcome, deleted, started, true);
                    Ok(())
                }
                Err(error) => Err(refused(error)),
            }
        })
        .map_err(Failure::Panicked)?,
        Handler::Blocking(handler) => write_key(ctx, key_name, |key| {
            let ran = handler(key, args);
            let deleted = key.end();
            match ran.map_err(refused)? {
                Attempt::Done(outcome) => {
                    finish::<C>(ctx, key_name, outcome, deleted, started, true)
                }
                Attempt::Wait { timeout_ms } if ctx.may_block() => {
                    ctx.block_on_key(key_name, timeout_ms, ready);
                }
                Attempt::Wait { .. } => ReplyOut::top(ctx, started).null_array(),
            }
            Ok(())
        })
        .map_err(Failure::Panicked)?,
    }
}

/// Row `I`'s write handler, read from the table inside the catch: there a
/// captured handler would be a pointer loaded at run time, while a row of
/// the constant table is known, so the handler is called directly, small
/// ones inline, and the variant of their reply is known where it is written.
#[inline(always)]
fn write_handler<C: CommandSet, const I: usize>() -> fn(&mut WriteKey<'_>, &[Arg]) -> WriteResult<C>
{
    match C::COMMANDS[I].handler {
        Handler::Write(handler) => handler,
        _ => unreachable!("row {I} is a write"),
    }
}

/// Runs `write` on the key opened for writing, in one catch. `write` runs
/// the handler, then ends the key (`WriteKey::end`: its value counted again,
/// no empty value left behind, the key closed) before it replies anything.
/// After a panic the key is settled all the same, in a catch of its own (a
/// key ended already is left as it is). Returns what `write` returned, or
/// the first panic raised.
#[inline(always)]
fn write_key<R>(
    ctx: &Context,
    key_name: &Arg,
    write: impl FnOnce(&mut WriteKey<'_>) -> R,
) -> std::thread::Result<R> {
    let mut key = WriteKey::open(ctx, key_name);
    catch_unwind(AssertUnwindSafe(|| write(&mut key))).inspect_err(|_| {
        let _ = catch_unwind(AssertUnwindSafe(|| key.settle()));
    })
}

/// Writes a write's reply, then what its change owes the rest of Redis
/// (and, if `signal`, wakes the clients waiting on the key).
#[inline(always)]
fn finish<C: CommandSet>(
    ctx: &Context,
    key_name: &Arg,
    outcome: Outcome<C::Reply>,
    deleted: bool,
    started: &Cell<bool>,
    signal: bool,
) {
    let Outcome {
        reply,
        event,
        replicated_as,
        expired,
    } = outcome;
    reply.write(ReplyOut::top(ctx, started));
    if expired.is_empty() && replicated_as.is_none() && !deleted {
        // Most writes: nothing, or one change propagated as received. With
        // the other arguments constant here, `announce_change` (inlined)
        // folds down to the three calls such a change owes.
        if let Some(event) = event {
            ctx.announce_change(key_name, Some((event, None)), None, false);
            if signal {
                ctx.signal_ready(key_name);
            }
        }
        return;
    }
    if event.is_none() && expired.is_empty() {
        return;
    }
    let removals = (!expired.is_empty()).then_some(Removals {
        command: C::EXPIRED_REMOVAL,
        event: C::EXPIRED_EVENT,
        parts: &expired,
    });
    let change = event.map(|event| (event, replicated_as.as_ref()));
    ctx.announce_change(key_name, change, removals, deleted);
    if signal && event.is_some() {
        ctx.signal_ready(key_name);
    }
}

#[inline(always)]
fn caught<T>(body: impl FnOnce() -> T) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(body)).map_err(Failure::Panicked)
}

/// Registers every command of `C`, with its description and ACL categories on
/// servers that take them.
pub fn register<C: CommandSet>(ctx: &Context) -> Result<(), String> {
    if C::COMMANDS.len() > MAX_COMMANDS {
        return Err(format!(
            "{} commands, but entry points for only {MAX_COMMANDS}",
            C::COMMANDS.len()
        ));
    }
    let acl = AclCategories::add(ctx, C::ACL_CATEGORY)?;
    for (command, entry) in C::COMMANDS.iter().zip(entry_points::<C>()) {
        register_command(ctx, command, entry, acl.as_ref())?;
    }
    Ok(())
}

fn register_command<C: CommandSet>(
    ctx: &Context,
    command: &Command<C>,
    entry: raw::RedisModuleCmdFunc,
    acl: Option<&AclCategories>,
) -> Result<(), String> {
    // SAFETY: an optional API, read after the shim resolved it.
    let flags = server_flags(
        command.flags,
        unsafe { raw::RedisModule_GetCommand }.is_some(),
    );
    // SAFETY: the load context is live; the strings outlive the call. The
    // one key is argument 1.
    let status = unsafe {
        api!(RedisModule_CreateCommand)(
            ctx.as_ptr(),
            command.name.as_ptr(),
            entry,
            flags.as_ptr(),
            1,
            1,
            1,
        )
    };
    if status != raw::REDISMODULE_OK {
        return Err(format!("could not register command {:?}", command.name));
    }
    // SAFETY: an optional API (Redis 7.0+), read after the shim resolved it.
    let Some(get_command) = (unsafe { raw::RedisModule_GetCommand }) else {
        return Ok(());
    };
    // SAFETY: the load context is live and the name static.
    let handle = unsafe { get_command(ctx.as_ptr(), command.name.as_ptr()) };
    if handle.is_null() {
        return Err(format!(
            "Redis cannot find command {:?} just registered",
            command.name
        ));
    }
    set_command_info(handle, command)?;
    acl.map_or(Ok(()), |acl| acl.assign(handle, command))
}

/// The command flags to register: Redis 6.2 refuses the whole command for
/// a flag it does not know, and `blocking` came with Redis 7.0, as did the
/// command API (`GetCommand`) that tells the two apart.
fn server_flags(flags: &CStr, server_is_7: bool) -> CString {
    let known = flags
        .to_bytes()
        .split(|byte| *byte == b' ')
        .filter(|flag| server_is_7 || *flag != b"blocking");
    CString::new(known.collect::<Vec<_>>().join(&b' ')).expect("flags hold no NUL")
}

/// What the server's ACL knows of our commands. Unless told, a server puts a
/// module's command in no category at all (not even @read or @write, so
/// `+@all -@write` would let a user write through it), hence every command
/// names its categories; Redis 7.4+ and Valkey 8+ take them.
struct AclCategories {
    set_categories: unsafe extern "C" fn(*mut raw::RedisModuleCommand, *const c_char) -> c_int,
    own: &'static CStr,
}

impl AclCategories {
    /// Adds the module's own category, where the server takes categories.
    fn add(ctx: &Context, own: &'static CStr) -> Result<Option<AclCategories>, String> {
        // SAFETY: optional APIs, read after the shim resolved them.
        let (Some(add_category), Some(set_categories)) = (unsafe {
            (
                raw::RedisModule_AddACLCategory,
                raw::RedisModule_SetCommandACLCategories,
            )
        }) else {
            return Ok(None);
        };
        // SAFETY: the load context is live; the server copies the name.
        if unsafe { add_category(ctx.as_ptr(), own.as_ptr()) } != raw::REDISMODULE_OK {
            return Err(format!("Redis refused the ACL category {own:?}"));
        }
        Ok(Some(AclCategories {
            set_categories,
            own,
        }))
    }

    fn assign<C: CommandSet>(
        &self,
        handle: *mut raw::RedisModuleCommand,
        command: &Command<C>,
    ) -> Result<(), String> {
        let categories = acl_categories(self.own, command.flags);
        // SAFETY: `handle` is the live command just registered, during the
        // load; the server parses the string during the call.
        match unsafe { (self.set_categories)(handle, categories.as_ptr()) } {
            raw::REDISMODULE_OK => Ok(()),
            _ => Err(format!(
                "Redis refused the ACL categories {categories:?} of command {:?}",
                command.name
            )),
        }
    }
}

/// `own`, then the standard categories that the command's `flags` imply,
/// by the rule the server applies to its own commands: write is @write,
/// readonly @read, blocking @blocking, and every command is @fast or else
/// @slow.
fn acl_categories(own: &CStr, flags: &CStr) -> CString {
    let flags: Vec<&[u8]> = flags
        .to_bytes()
        .split(|byte| *byte == b' ')
        .filter(|flag| !flag.is_empty())
        .collect();
    let mut categories = vec![own.to_bytes()];
    for (flag, category) in [
        (&b"write"[..], &b"write"[..]),
        (b"readonly", b"read"),
        (b"blocking", b"blocking"),
    ] {
        if flags.contains(&flag) {
            categories.push(category);
        }
    }
    categories.push(if flags.contains(&&b"fast"[..]) {
        b"fast"
    } else {
        b"slow"
    });
    CString::new(categories.join(&b' ')).expect("category names hold no NUL")
}

/// Describes the command to Redis 7.0+ (arity, docs, key specs).
fn set_command_info<C: CommandSet>(
    handle: *mut raw::RedisModuleCommand,
    command: &Command<C>,
) -> Result<(), String> {
    // SAFETY: an optional API (Redis 7.0+, as GetCommand), read after the
    // shim resolved it.
    let Some(set_command_info) = (unsafe { raw::RedisModule_SetCommandInfo }) else {
        return Ok(());
    };
    let key_flags = match command.key_access {
        KeyAccess::Read => raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS,
        KeyAccess::Insert => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_INSERT,
        KeyAccess::Update => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE,
        KeyAccess::Delete => raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_DELETE,
        KeyAccess::Take => {
            raw::REDISMODULE_CMD_KEY_RW
                | raw::REDISMODULE_CMD_KEY_ACCESS
                | raw::REDISMODULE_CMD_KEY_DELETE
        }
    };
    // One key, at argument 1: begin at index 1, a range of one key.
    let mut key_specs = [
        raw::RedisModuleCommandKeySpec {
            flags: key_flags as u64,
            begin_search_type: raw::REDISMODULE_KSPEC_BS_INDEX,
            bs: raw::RedisModuleCommandKeySpec__bindgen_ty_1 {
                index: raw::RedisModuleCommandKeySpec__bindgen_ty_1__bindgen_ty_1 { pos: 1 },
            },
            find_keys_type: raw::REDISMODULE_KSPEC_FK_RANGE,
            fk: raw::RedisModuleCommandKeySpec__bindgen_ty_2 {
                range: raw::RedisModuleCommandKeySpec__bindgen_ty_2__bindgen_ty_1 {
                    lastkey: 0,
                    keystep: 1,
                    limit: 0,
                },
            },
            ..Default::default()
        },
        raw::RedisModuleCommandKeySpec::default(),
    ];
    // Each argument's keywords, zero-terminated, alive until the server has
    // copied them.
    let mut keywords: Vec<Vec<raw::RedisModuleCommandArg>> = command
        .args
        .iter()
        .map(|arg| match arg.kind {
            ArgKind::OneOf(words) => words
                .iter()
                .map(|&word| keyword_arg(word))
                .chain([raw::RedisModuleCommandArg::default()])
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let mut args: Vec<raw::RedisModuleCommandArg> = command
        .args
        .iter()
        .zip(&mut keywords)
        .map(|(arg, keywords)| raw::RedisModuleCommandArg {
            subargs: if keywords.is_empty() {
                std::ptr::null_mut()
            } else {
                keywords.as_mut_ptr()
            },
            ..raw_arg(arg)
        })
        .chain([raw::RedisModuleCommandArg::default()])
        .collect();
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let info = raw::RedisModuleCommandInfo {
        version: &version,
        summary: command.summary.as_ptr(),
        complexity: command.complexity.as_ptr(),
        since: command.since.as_ptr(),
        arity: command.arity,
        key_specs: key_specs.as_mut_ptr(),
        args: args.as_mut_ptr(),
        ..Default::default()
    };
    // SAFETY: `handle` is the live command just registered, during the load;
    // `info` and everything it points to (zero-terminated arrays, static
    // strings) outlive the call, and Redis copies what it keeps.
    if unsafe { set_command_info(handle, &info) } == raw::REDISMODULE_OK {
        Ok(())
    } else {
        Err(format!(
            "Redis refused the description of command {:?}",
            command.name
        ))
    }
}

fn raw_arg(arg: &ArgDoc) -> raw::RedisModuleCommandArg {
    let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
    if arg.optional {
        flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
    }
    if arg.multiple {
        flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
    }
    let kind = match arg.kind {
        ArgKind::Key => raw::REDISMODULE_ARG_TYPE_KEY,
        ArgKind::String => raw::REDISMODULE_ARG_TYPE_STRING,
        ArgKind::Integer => raw::REDISMODULE_ARG_TYPE_INTEGER,
        ArgKind::Double => raw::REDISMODULE_ARG_TYPE_DOUBLE,
        ArgKind::UnixTime => raw::REDISMODULE_ARG_TYPE_UNIX_TIME,
        ArgKind::Pattern => raw::REDISMODULE_ARG_TYPE_PATTERN,
        ArgKind::OneOf(_) => raw::REDISMODULE_ARG_TYPE_ONEOF,
    };
    raw::RedisModuleCommandArg {
        name: arg.name.as_ptr(),
        type_: kind,
        // Our only key spec is number 0; other arguments name none.
        key_spec_index: if matches!(arg.kind, ArgKind::Key) {
            0
        } else {
            -1
        },
        token: arg.token.map_or(std::ptr::null(), CStr::as_ptr),
        flags,
        ..Default::default()
    }
}

/// A keyword of a one-of argument, named as it is written.
fn keyword_arg(word: &'static CStr) -> raw::RedisModuleCommandArg {
    raw::RedisModuleCommandArg {
        name: word.as_ptr(),
        type_: raw::REDISMODULE_ARG_TYPE_PURE_TOKEN,
        key_spec_index: -1,
        token: word.as_ptr(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::{acl_categories, arity_allows, server_flags};

    #[test]
    fn acl_categories_follow_the_flags_as_for_native_commands() {
        for (flags, categories) in [
            (c"write deny-oom", c"mm write slow"),
            (c"write", c"mm write slow"),
            (c"readonly", c"mm read slow"),
            (c"readonly fast", c"mm read fast"),
            (c"write  blocking", c"mm write blocking slow"),
            (c"write fast", c"mm write fast"),
        ] {
            assert_eq!(
                acl_categories(c"mm", flags).as_c_str(),
                categories,
                "{flags:?}"
            );
        }
    }

    #[test]
    fn redis_6_gets_no_blocking_flag() {
        assert_eq!(server_flags(c"write blocking", false).as_c_str(), c"write");
        assert_eq!(
            server_flags(c"write blocking", true).as_c_str(),
            c"write blocking"
        );
        assert_eq!(
            server_flags(c"readonly fast", false).as_c_str(),
            c"readonly fast"
        );
    }

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
