//! One handler per MULTIMAP command, and the command table Redis registers.
//!
//! A handler is a safe function from its key and arguments to a reply (for
//! writes, a reply and what changed). The trampoline in `ffi` opens the key
//! before the handler runs and writes the reply after it returns, so an error
//! is always the whole reply; it also deletes a key whose map a write left
//! empty, and signals, notifies and replicates only what the handler reports
//! as changed. Handlers parse every argument before changing anything, so an
//! error never leaves a key half-changed.
#![forbid(unsafe_code)]

use std::ffi::CStr;

use crate::datatype::MULTIMAP;
use crate::error::{Error, INTERNAL_ERROR};
use crate::expire;
use crate::faults::trip_command;
use crate::ffi::{
    read_handler, Arg, ArgDoc, ArgKind, Command, CommandSet, ErrorReply, Handler, KeyAccess,
    KeyEnv, Outcome, ReadKey, WriteKey,
};
use crate::glob::Pattern;
use crate::info::{self, Counter};
use crate::multimap::{MultiMap, Values, View};
use crate::reply::Reply;

mod expiry;
mod lists;

/// The command table Redis registers, one row per command.
pub struct MultiMapCommands;

impl CommandSet for MultiMapCommands {
    type Reply = Reply<'static>;
    type Error = Error;
    const INTERNAL_ERROR: ErrorReply = INTERNAL_ERROR;
    const ACL_CATEGORY: &'static CStr = c"multimap";
    const EXPIRED_REMOVAL: &'static CStr = crate::expire::REMOVAL_COMMAND;
    const EXPIRED_EVENT: &'static CStr = crate::expire::EXPIRED_EVENT;
    #[rustfmt::skip]
    const COMMANDS: &'static [Command<Self>] = &[
        Command {
            name: c"multimap.insert", handler: Handler::Write(insert), arity: -4, flags: c"write deny-oom",
            summary: c"Appends values to a field, creating the key and the field as needed",
            complexity: c"O(N) where N is the number of values given",
            since: SINCE, key_access: KeyAccess::Insert, args: &[KEY, FIELD, VALUES],
        },
        Command {
            name: c"multimap.get", handler: read_handler!(get), arity: 3, flags: c"readonly",
            summary: c"Returns every value of a field, in insertion order",
            complexity: c"O(N) where N is the number of values in the field",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD],
        },
        Command {
            name: c"multimap.values", handler: read_handler!(get), arity: 3, flags: c"readonly",
            summary: c"Returns every value of a field, in insertion order (alias of MULTIMAP.GET)",
            complexity: c"O(N) where N is the number of values in the field",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD],
        },
        Command {
            name: c"multimap.len", handler: read_handler!(len), arity: 3, flags: c"readonly fast",
            summary: c"Returns the number of values in a field",
            complexity: c"O(1)",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD],
        },
        Command {
            name: c"multimap.range", handler: read_handler!(range), arity: 5, flags: c"readonly",
            summary: c"Returns the values of a field between two indexes, with LRANGE's rules",
            complexity: c"O(S+N) where S is the start offset and N the number of values returned",
            since: SINCE, key_access: KeyAccess::Read,
            args: &[KEY, FIELD, ArgDoc::new(c"start", ArgKind::Integer), ArgDoc::new(c"stop", ArgKind::Integer)],
        },
        Command {
            name: c"multimap.contains", handler: read_handler!(contains), arity: 4, flags: c"readonly",
            summary: c"Tells whether a field holds a value",
            complexity: c"O(N) where N is the number of values in the field",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD, VALUE],
        },
        Command {
            name: c"multimap.exists", handler: read_handler!(exists), arity: 3, flags: c"readonly fast",
            summary: c"Tells whether a field exists",
            complexity: c"O(1)",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD],
        },
        Command {
            name: c"multimap.remove", handler: Handler::Write(remove), arity: -4, flags: c"write",
            summary: c"Removes every occurrence of the given values from a field",
            complexity: c"O(N+M) where N is the number of values in the field and M the number given",
            since: SINCE, key_access: KeyAccess::Delete, args: &[KEY, FIELD, VALUES],
        },
        Command {
            name: c"multimap.replace", handler: Handler::Write(replace), arity: -4, flags: c"write deny-oom",
            summary: c"Makes a field hold exactly the given values",
            complexity: c"O(N+M) where N is the number of values replaced and M the number given",
            since: SINCE, key_access: KeyAccess::Update, args: &[KEY, FIELD, VALUES],
        },
        Command {
            name: c"multimap.del", handler: Handler::Write(del), arity: -3, flags: c"write",
            summary: c"Deletes whole fields",
            complexity: c"O(F+N) where F is the number of fields given and N the values they held",
            since: SINCE, key_access: KeyAccess::Delete,
            args: &[KEY, ArgDoc::new(c"field", ArgKind::String).multiple()],
        },
        Command {
            name: c"multimap.card", handler: read_handler!(card), arity: 2, flags: c"readonly fast",
            summary: c"Returns the number of fields",
            complexity: c"O(1)",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY],
        },
        Command {
            name: c"multimap.size", handler: read_handler!(size), arity: 2, flags: c"readonly fast",
            summary: c"Returns the total number of values over all fields",
            complexity: c"O(1)",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY],
        },
        Command {
            name: c"multimap.fields", handler: read_handler!(fields), arity: 2, flags: c"readonly",
            summary: c"Returns every field name",
            complexity: c"O(F) where F is the number of fields",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY],
        },
        Command {
            name: c"multimap.getall", handler: read_handler!(getall), arity: 2, flags: c"readonly",
            summary: c"Returns every field with its values",
            complexity: c"O(F+N) where F is the number of fields and N the number of values",
            since: SINCE, key_access: KeyAccess::Read, args: &[KEY],
        },
        Command {
            name: c"multimap.scan", handler: read_handler!(scan), arity: -3, flags: c"readonly",
            summary: c"Incrementally iterates over fields and their values",
            complexity: c"O(1) for every call. O(F+N) for a complete iteration",
            since: SINCE, key_access: KeyAccess::Read,
            args: &[
                KEY,
                ArgDoc::new(c"cursor", ArgKind::Integer),
                ArgDoc::new(c"pattern", ArgKind::Pattern).after_token(c"MATCH").optional(),
                ArgDoc::new(c"count", ArgKind::Integer).after_token(c"COUNT").optional(),
            ],
        },
        Command {
            name: c"multimap.prepend", handler: Handler::Write(lists::prepend), arity: -4, flags: c"write deny-oom fast",
            summary: c"Adds values at the front of a field, in the order given, creating the key and the field as needed",
            complexity: c"O(N) where N is the number of values given",
            since: LISTS_SINCE, key_access: KeyAccess::Insert, args: &[KEY, FIELD, VALUES],
        },
        Command {
            name: c"multimap.add", handler: Handler::Write(lists::add), arity: -4, flags: c"write deny-oom",
            summary: c"Appends the given values that the field does not hold yet, each once",
            complexity: c"O(M) where M is the number of values given, on a field of 32 values or more given an ADD before and since changed only by INSERT, PREPEND, ADD, POP, BPOP or a TRIM of less than half the field; else O(N+M) where N is the number of values in the field",
            since: LISTS_SINCE, key_access: KeyAccess::Insert, args: &[KEY, FIELD, VALUES],
        },
        Command {
            name: c"multimap.pop", handler: Handler::Write(lists::pop), arity: -4, flags: c"write fast",
            summary: c"Removes and returns values from either end of a field, as LPOP and RPOP",
            complexity: c"O(N) where N is the number of values returned",
            since: LISTS_SINCE, key_access: KeyAccess::Take, args: &[KEY, FIELD, WHERE, POP_COUNT],
        },
        Command {
            name: c"multimap.bpop", handler: Handler::Blocking(lists::bpop), arity: -5, flags: c"write blocking",
            summary: c"Removes and returns values from either end of a field, or waits for some, as BLPOP and BLMPOP",
            complexity: c"O(N) where N is the number of values returned",
            since: LISTS_SINCE, key_access: KeyAccess::Take,
            args: &[KEY, FIELD, WHERE, ArgDoc::new(c"timeout", ArgKind::Double), POP_COUNT],
        },
        Command {
            name: c"multimap.index", handler: read_handler!(lists::index), arity: 4, flags: c"readonly",
            summary: c"Returns the value at an index of a field, as LINDEX",
            complexity: c"O(N) where N is the distance of the index from the nearer end; O(1) for the first or last value",
            since: LISTS_SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD, INDEX],
        },
        Command {
            name: c"multimap.set", handler: Handler::Write(lists::set), arity: 5, flags: c"write deny-oom",
            summary: c"Replaces the value at an index of a field, as LSET",
            complexity: c"O(N) where N is the number of values in the field",
            since: LISTS_SINCE, key_access: KeyAccess::Update, args: &[KEY, FIELD, INDEX, VALUE],
        },
        Command {
            name: c"multimap.trim", handler: Handler::Write(lists::trim), arity: 5, flags: c"write",
            summary: c"Keeps only the values of a field between two indexes, as LTRIM",
            complexity: c"O(N) where N is the number of values removed",
            since: LISTS_SINCE, key_access: KeyAccess::Delete,
            args: &[KEY, FIELD, ArgDoc::new(c"start", ArgKind::Integer), ArgDoc::new(c"stop", ArgKind::Integer)],
        },
        Command {
            name: c"multimap.pos", handler: read_handler!(lists::pos), arity: -4, flags: c"readonly",
            summary: c"Returns the indexes of a value in a field, as LPOS",
            complexity: c"O(N) where N is the number of values in the field, O(1) with a small MAXLEN",
            since: LISTS_SINCE, key_access: KeyAccess::Read,
            args: &[
                KEY,
                FIELD,
                VALUE,
                ArgDoc::new(c"rank", ArgKind::Integer).after_token(c"RANK").optional(),
                ArgDoc::new(c"num-matches", ArgKind::Integer).after_token(c"COUNT").optional(),
                ArgDoc::new(c"len", ArgKind::Integer).after_token(c"MAXLEN").optional(),
            ],
        },
        Command {
            name: c"multimap.expire", handler: Handler::Write(expiry::expire), arity: -6, flags: c"write fast",
            summary: c"Sets the expiry of fields, in seconds from now, as HEXPIRE",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Update, args: &[KEY, SECONDS, CONDITION, NUMFIELDS, FIELDS],
        },
        Command {
            name: c"multimap.pexpire", handler: Handler::Write(expiry::pexpire), arity: -6, flags: c"write fast",
            summary: c"Sets the expiry of fields, in milliseconds from now, as HPEXPIRE",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Update, args: &[KEY, MILLISECONDS, CONDITION, NUMFIELDS, FIELDS],
        },
        Command {
            name: c"multimap.expireat", handler: Handler::Write(expiry::expireat), arity: -6, flags: c"write fast",
            summary: c"Sets the expiry of fields as a Unix time in seconds, as HEXPIREAT",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Update, args: &[KEY, UNIX_SECONDS, CONDITION, NUMFIELDS, FIELDS],
        },
        Command {
            name: c"multimap.pexpireat", handler: Handler::Write(expiry::pexpireat), arity: -6, flags: c"write fast",
            summary: c"Sets the expiry of fields as a Unix time in milliseconds, as HPEXPIREAT",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Update, args: &[KEY, UNIX_MILLISECONDS, CONDITION, NUMFIELDS, FIELDS],
        },
        Command {
            name: c"multimap.ttl", handler: read_handler!(expiry::ttl), arity: -5, flags: c"readonly fast",
            summary: c"Returns the seconds left before fields expire, as HTTL",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Read, args: &[KEY, NUMFIELDS, FIELDS],
        },
        Command {
            name: c"multimap.pttl", handler: read_handler!(expiry::pttl), arity: -5, flags: c"readonly fast",
            summary: c"Returns the milliseconds left before fields expire, as HPTTL",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Read, args: &[KEY, NUMFIELDS, FIELDS],
        },
        Command {
            name: c"multimap.expiretime", handler: read_handler!(expiry::expiretime), arity: -5, flags: c"readonly fast",
            summary: c"Returns when fields expire, as a Unix time in seconds, as HEXPIRETIME",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Read, args: &[KEY, NUMFIELDS, FIELDS],
        },
        Command {
            name: c"multimap.pexpiretime", handler: read_handler!(expiry::pexpiretime), arity: -5, flags: c"readonly fast",
            summary: c"Returns when fields expire, as a Unix time in milliseconds, as HPEXPIRETIME",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Read, args: &[KEY, NUMFIELDS, FIELDS],
        },
        Command {
            name: c"multimap.persist", handler: Handler::Write(expiry::persist), arity: -5, flags: c"write fast",
            summary: c"Removes the expiry of fields, as HPERSIST",
            complexity: c"O(N) where N is the number of fields given",
            since: EXPIRY_SINCE, key_access: KeyAccess::Update, args: &[KEY, NUMFIELDS, FIELDS],
        },
    ];
}

/// The module versions that introduced the commands above.
const SINCE: &CStr = c"0.1.0";
const LISTS_SINCE: &CStr = c"0.2.0";
const KEY: ArgDoc = ArgDoc::new(c"key", ArgKind::Key);
const FIELD: ArgDoc = ArgDoc::new(c"field", ArgKind::String);
const VALUE: ArgDoc = ArgDoc::new(c"value", ArgKind::String);
const VALUES: ArgDoc = ArgDoc::new(c"value", ArgKind::String).multiple();
const WHERE: ArgDoc = ArgDoc::new(c"where", ArgKind::OneOf(&[c"LEFT", c"RIGHT"]));
const POP_COUNT: ArgDoc = ArgDoc::new(c"count", ArgKind::Integer)
    .after_token(c"COUNT")
    .optional();
const INDEX: ArgDoc = ArgDoc::new(c"index", ArgKind::Integer);
const EXPIRY_SINCE: &CStr = c"0.3.0";
const SECONDS: ArgDoc = ArgDoc::new(c"seconds", ArgKind::Integer);
const MILLISECONDS: ArgDoc = ArgDoc::new(c"milliseconds", ArgKind::Integer);
const UNIX_SECONDS: ArgDoc = ArgDoc::new(c"unix-time-seconds", ArgKind::UnixTime);
const UNIX_MILLISECONDS: ArgDoc = ArgDoc::new(c"unix-time-milliseconds", ArgKind::UnixTime);
const CONDITION: ArgDoc =
    ArgDoc::new(c"condition", ArgKind::OneOf(&[c"NX", c"XX", c"GT", c"LT"])).optional();
const NUMFIELDS: ArgDoc = ArgDoc::new(c"numfields", ArgKind::Integer).after_token(c"FIELDS");
const FIELDS: ArgDoc = ArgDoc::new(c"field", ArgKind::String).multiple();

/// Default number of fields one SCAN call visits, as for HSCAN.
const DEFAULT_SCAN_COUNT: usize = 10;
/// The most fields a SCAN page makes room for before it finds them, so that
/// a huge COUNT on a small key does not allocate for fields it will not find.
const PRESIZED_SCAN_PAGE: usize = 1024;

/// What a read handler returns: its reply may borrow from the key's map.
type ReadResult<'k> = Result<Reply<'k>, Error>;
/// What a write handler returns: its reply owns everything it says.
type WriteResult = Result<Outcome<Reply<'static>>, Error>;

/// MULTIMAP.INSERT key field value [value ...]
fn insert(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let env = key.env();
    let map = key.value_or_insert_with(&MULTIMAP, MultiMap::new)?;
    let field = field(&args[2]);
    let expired = drop_expired(env, map, &args[1], field);
    let len = map.insert(field, args[3..].iter().map(Arg::as_bytes));
    Ok(Outcome::changed(c"multimap.insert", Reply::count(len)).with_expired(expired))
}

/// MULTIMAP.GET key field (also MULTIMAP.VALUES)
#[inline(always)]
fn get<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    let values = field_values(key, args)?;
    // A match, not `map_or`: a default built up front would be dropped
    // through the enum's drop glue on every hit.
    Ok(match values {
        Some(values) => Reply::Values(values.iter()),
        None => Reply::EmptyArray,
    })
}

/// MULTIMAP.LEN key field
#[inline(always)]
fn len<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    let map = key.value(&MULTIMAP)?;
    Ok(Reply::count(
        map.map_or(0, |map| view(key, map).len_of(field(&args[2]))),
    ))
}

/// MULTIMAP.RANGE key field start stop
fn range<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    // As LRANGE: a malformed index wins over a key of another type.
    let start = parse_integer(&args[3])?;
    let stop = parse_integer(&args[4])?;
    Ok(match field_values(key, args)? {
        Some(values) => Reply::Values(values.range(start, stop)),
        None => Reply::EmptyArray,
    })
}

/// MULTIMAP.CONTAINS key field value
fn contains<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    let values = field_values(key, args)?;
    Ok(Reply::boolean(
        values.is_some_and(|values| values.contains(args[3].as_bytes())),
    ))
}

/// MULTIMAP.EXISTS key field
#[inline(always)]
fn exists<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    let map = key.value(&MULTIMAP)?;
    Ok(Reply::boolean(map.is_some_and(|map| {
        view(key, map).contains_field(field(&args[2]))
    })))
}

/// MULTIMAP.REMOVE key field value [value ...]
fn remove(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let env = key.env();
    let Some(map) = key.value_mut(&MULTIMAP)? else {
        return Ok(Outcome::unchanged(Reply::count(0)));
    };
    let field = field(&args[2]);
    let expired = drop_expired(env, map, &args[1], field);
    let unwanted: Vec<&[u8]> = args[3..].iter().map(Arg::as_bytes).collect();
    let removed = map.remove_values(field, &unwanted);
    Ok(
        Outcome::changed_if(removed > 0, c"multimap.remove", Reply::count(removed))
            .with_expired(expired),
    )
}

/// MULTIMAP.REPLACE key field value [value ...]
fn replace(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let env = key.env();
    let map = key.value_or_insert_with(&MULTIMAP, MultiMap::new)?;
    let field = field(&args[2]);
    let expired = drop_expired(env, map, &args[1], field);
    // One value, the common case, is read from the server once; a mapped
    // iterator would be read twice (its length is measured first).
    let replaced = match &args[3..] {
        [value] => map.replace(field, [value.as_bytes()]),
        values => map.replace(field, values.iter().map(Arg::as_bytes)),
    };
    Ok(Outcome::changed_if(
        replaced.changed,
        c"multimap.replace",
        Reply::count(replaced.len),
    )
    .with_expired(expired))
}

/// MULTIMAP.DEL key field [field ...]
fn del(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let env = key.env();
    let Some(map) = key.value_mut(&MULTIMAP)? else {
        return Ok(Outcome::unchanged(Reply::count(0)));
    };
    let mut expired = Vec::new();
    let mut removed = 0;
    for name in &args[2..] {
        let field = field(name);
        expired.extend(drop_expired(env, map, &args[1], field));
        removed += usize::from(map.remove_field(field));
    }
    Ok(
        Outcome::changed_if(removed > 0, c"multimap.del", Reply::count(removed))
            .with_expired(expired),
    )
}

/// MULTIMAP.CARD key
#[inline(always)]
fn card<'k>(key: &'k ReadKey, _: &[Arg]) -> ReadResult<'k> {
    let map = key.value(&MULTIMAP)?;
    Ok(Reply::count(
        map.map_or(0, |map| view(key, map).field_count()),
    ))
}

/// MULTIMAP.SIZE key
#[inline(always)]
fn size<'k>(key: &'k ReadKey, _: &[Arg]) -> ReadResult<'k> {
    let map = key.value(&MULTIMAP)?;
    Ok(Reply::count(
        map.map_or(0, |map| view(key, map).value_count()),
    ))
}

/// MULTIMAP.FIELDS key
fn fields<'k>(key: &'k ReadKey, _: &[Arg]) -> ReadResult<'k> {
    let map = key.value(&MULTIMAP)?;
    Ok(map.map_or(Reply::EmptyArray, |map| Reply::FieldNames(view(key, map))))
}

/// MULTIMAP.GETALL key
fn getall<'k>(key: &'k ReadKey, _: &[Arg]) -> ReadResult<'k> {
    let map = key.value(&MULTIMAP)?;
    Ok(map.map_or(Reply::EmptyMap, |map| Reply::Everything(view(key, map))))
}

/// MULTIMAP.SCAN key cursor [MATCH pattern] [COUNT count]
fn scan<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    let map = key.value(&MULTIMAP)?;
    let cursor = parse_cursor(&args[2])?;
    let options = ScanOptions::parse(&args[3..])?;

    // A call finds about COUNT fields: room for them up front spares the
    // page as many reallocations as doublings, on every call.
    let mut found: Vec<(&[u8], Values)> = Vec::with_capacity(options.count.min(PRESIZED_SCAN_PAGE));
    let cursor = match map {
        Some(map) => view(key, map).scan(cursor, options.count, |field, values| {
            if options
                .pattern
                .as_ref()
                .is_none_or(|pattern| pattern.matches(field))
            {
                found.push((field, values));
            }
        }),
        None => 0,
    };
    Ok(Reply::ScanPage { cursor, found })
}

struct ScanOptions {
    pattern: Option<Pattern>,
    count: usize,
}

impl ScanOptions {
    fn parse(args: &[Arg]) -> Result<ScanOptions, Error> {
        let mut options = ScanOptions {
            pattern: None,
            count: DEFAULT_SCAN_COUNT,
        };
        parse_options(args, |name, value| {
            if name.eq_ignore_ascii_case(b"MATCH") {
                // "*" matches every field; skipping it keeps the common case free.
                options.pattern =
                    (value.as_bytes() != b"*").then(|| Pattern::new(value.as_bytes()));
            } else if name.eq_ignore_ascii_case(b"COUNT") {
                let count = parse_integer(value)?;
                if count < 1 {
                    return Err(Error::Syntax);
                }
                options.count = usize::try_from(count).unwrap_or(usize::MAX);
            } else {
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(options)
    }
}

/// Reads `NAME value` options in order, each through `apply`, which says
/// whether it takes that name; a name it does not take, or one left without
/// its value, is a syntax error. The first bad option decides the error.
fn parse_options(
    args: &[Arg],
    mut apply: impl FnMut(&[u8], &Arg) -> Result<bool, Error>,
) -> Result<(), Error> {
    let mut rest = args;
    while let [name, value, tail @ ..] = rest {
        if !apply(name.as_bytes(), value)? {
            return Err(Error::Syntax);
        }
        rest = tail;
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(Error::Syntax)
    }
}

fn parse_integer(arg: &Arg) -> Result<i64, Error> {
    arg.to_i64().ok_or(Error::NotAnInteger)
}

/// Cursors are unsigned decimal numbers, as HSCAN's are.
fn parse_cursor(arg: &Arg) -> Result<u64, Error> {
    let digits = arg.as_bytes();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::InvalidCursor);
    }
    digits.iter().try_fold(0u64, |cursor, digit| {
        cursor
            .checked_mul(10)
            .and_then(|cursor| cursor.checked_add(u64::from(digit - b'0')))
            .ok_or(Error::InvalidCursor)
    })
}

/// The values of the field argument 2 names, `None` when the key or the
/// field is missing.
#[inline(always)]
fn field_values<'k>(key: &'k ReadKey, args: &[Arg]) -> Result<Option<Values<'k>>, Error> {
    Ok(key
        .value(&MULTIMAP)?
        .and_then(|map| view(key, map).get(field(&args[2]))))
}

/// The map as a read sees it: without the fields that have expired. Asks
/// the time only of a map that has expiries.
#[inline]
fn view<'k>(key: &ReadKey, map: &'k MultiMap) -> View<'k> {
    map.view(read_clock(key.env(), map))
}

/// The time `map` is read at: the clock where it has expiries, else 0
/// (nothing expires), without asking the server.
#[inline]
fn read_clock(env: KeyEnv, map: &MultiMap) -> u64 {
    if map.has_expiries() {
        env.expiry_clock()
    } else {
        0
    }
}

/// Before a write touches `field`: removes it if it has expired, so that
/// the write finds it missing. Returns what it removed, for
/// `Outcome::with_expired`. Where the server cannot tell us of keys that
/// RENAME and MOVE bring, also puts `key` on the expiry schedule.
#[inline]
fn drop_expired(env: KeyEnv, map: &mut MultiMap, key: &Arg, field: &[u8]) -> Vec<Vec<u8>> {
    // Most maps have no expiry at all: one test, inlined into the handler.
    if !map.has_expiries() {
        return Vec::new();
    }
    drop_expired_field(env, map, key, field)
}

#[inline(never)]
fn drop_expired_field(env: KeyEnv, map: &mut MultiMap, key: &Arg, field: &[u8]) -> Vec<Vec<u8>> {
    let Some(first) = map.earliest_expiry() else {
        return Vec::new();
    };
    if expire::follows_keys_through_writes() {
        expire::schedule(env.db(), key.as_bytes(), first);
    }
    if !map.remove_if_expired(field, env.expiry_clock()) {
        return Vec::new();
    }
    info::count(Counter::ExpiredFields, 1);
    vec![field.to_vec()]
}

/// A field argument. With fault injection, `fault:command` panics here, as a
/// bug in a handler would, before the handler changes anything.
fn field(arg: &Arg) -> &[u8] {
    let name = arg.as_bytes();
    trip_command(name);
    name
}
