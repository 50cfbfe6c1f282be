//! One handler per MULTIMAP command, and the command table Redis registers.
//!
//! Every handler follows the same order: open the key, check its type, parse
//! the remaining arguments, change data, reply, then (only if data changed)
//! signal, notify and replicate. Everything that can
//! fail happens before the first reply, so an error is always the whole reply
//! and never leaves a key half-changed.

use std::ffi::CStr;

use crate::error::Error;
use crate::ffi::command::{command, ArgDoc, ArgKind, KeyAccess};
use crate::ffi::{Arg, Command, Context};
use crate::glob::Pattern;
use crate::multimap::Values;

pub static COMMANDS: &[Command] = &[
    command!(
        name: c"multimap.insert", handler: insert, arity: -4, flags: c"write deny-oom",
        summary: c"Appends values to a field, creating the key and the field as needed",
        complexity: c"O(N) where N is the number of values given",
        since: SINCE, key_access: KeyAccess::Insert, args: &[KEY, FIELD, VALUES],
    ),
    command!(
        name: c"multimap.get", handler: get, arity: 3, flags: c"readonly",
        summary: c"Returns every value of a field, in insertion order",
        complexity: c"O(N) where N is the number of values in the field",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD],
    ),
    command!(
        name: c"multimap.values", handler: get, arity: 3, flags: c"readonly",
        summary: c"Returns every value of a field, in insertion order (alias of MULTIMAP.GET)",
        complexity: c"O(N) where N is the number of values in the field",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD],
    ),
    command!(
        name: c"multimap.len", handler: len, arity: 3, flags: c"readonly fast",
        summary: c"Returns the number of values in a field",
        complexity: c"O(1)",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD],
    ),
    command!(
        name: c"multimap.range", handler: range, arity: 5, flags: c"readonly",
        summary: c"Returns the values of a field between two indexes, with LRANGE's rules",
        complexity: c"O(S+N) where S is the start offset and N the number of values returned",
        since: SINCE, key_access: KeyAccess::Read,
        args: &[KEY, FIELD, ArgDoc::new(c"start", ArgKind::Integer), ArgDoc::new(c"stop", ArgKind::Integer)],
    ),
    command!(
        name: c"multimap.contains", handler: contains, arity: 4, flags: c"readonly",
        summary: c"Tells whether a field holds a value",
        complexity: c"O(N) where N is the number of values in the field",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD, VALUE],
    ),
    command!(
        name: c"multimap.exists", handler: exists, arity: 3, flags: c"readonly fast",
        summary: c"Tells whether a field exists",
        complexity: c"O(1)",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY, FIELD],
    ),
    command!(
        name: c"multimap.remove", handler: remove, arity: -4, flags: c"write",
        summary: c"Removes every occurrence of the given values from a field",
        complexity: c"O(N+M) where N is the number of values in the field and M the number given",
        since: SINCE, key_access: KeyAccess::Delete, args: &[KEY, FIELD, VALUES],
    ),
    command!(
        name: c"multimap.replace", handler: replace, arity: -4, flags: c"write deny-oom",
        summary: c"Makes a field hold exactly the given values",
        complexity: c"O(N+M) where N is the number of values replaced and M the number given",
        since: SINCE, key_access: KeyAccess::Update, args: &[KEY, FIELD, VALUES],
    ),
    command!(
        name: c"multimap.del", handler: del, arity: -3, flags: c"write",
        summary: c"Deletes whole fields",
        complexity: c"O(F+N) where F is the number of fields given and N the values they held",
        since: SINCE, key_access: KeyAccess::Delete,
        args: &[KEY, ArgDoc::new(c"field", ArgKind::String).multiple()],
    ),
    command!(
        name: c"multimap.card", handler: card, arity: 2, flags: c"readonly fast",
        summary: c"Returns the number of fields",
        complexity: c"O(1)",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY],
    ),
    command!(
        name: c"multimap.size", handler: size, arity: 2, flags: c"readonly fast",
        summary: c"Returns the total number of values over all fields",
        complexity: c"O(1)",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY],
    ),
    command!(
        name: c"multimap.fields", handler: fields, arity: 2, flags: c"readonly",
        summary: c"Returns every field name",
        complexity: c"O(F) where F is the number of fields",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY],
    ),
    command!(
        name: c"multimap.getall", handler: getall, arity: 2, flags: c"readonly",
        summary: c"Returns every field with its values",
        complexity: c"O(F+N) where F is the number of fields and N the number of values",
        since: SINCE, key_access: KeyAccess::Read, args: &[KEY],
    ),
    command!(
        name: c"multimap.scan", handler: scan, arity: -3, flags: c"readonly",
        summary: c"Incrementally iterates over fields and their values",
        complexity: c"O(1) for every call. O(F+N) for a complete iteration",
        since: SINCE, key_access: KeyAccess::Read,
        args: &[
            KEY,
            ArgDoc::new(c"cursor", ArgKind::Integer),
            ArgDoc::new(c"pattern", ArgKind::Pattern).after_token(c"MATCH").optional(),
            ArgDoc::new(c"count", ArgKind::Integer).after_token(c"COUNT").optional(),
        ],
    ),
];

/// The module version that introduced the commands above.
const SINCE: &CStr = c"0.1.0";
const KEY: ArgDoc = ArgDoc::new(c"key", ArgKind::Key);
const FIELD: ArgDoc = ArgDoc::new(c"field", ArgKind::String);
const VALUE: ArgDoc = ArgDoc::new(c"value", ArgKind::String);
const VALUES: ArgDoc = ArgDoc::new(c"value", ArgKind::String).multiple();

/// Default number of fields one SCAN call visits, as for HSCAN.
const DEFAULT_SCAN_COUNT: usize = 10;

/// MULTIMAP.INSERT key field value [value ...]
fn insert(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let mut key = ctx.open_write(&args[1]);
    let map = key.multimap_or_create()?;
    let len = map.insert(args[2].as_bytes(), args[3..].iter().map(Arg::as_bytes));
    ctx.reply_count(len);
    ctx.wrote(&args[1], c"multimap.insert", false);
    Ok(())
}

/// MULTIMAP.GET key field (also MULTIMAP.VALUES)
fn get(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    let values = key.multimap()?.and_then(|map| map.get(args[2].as_bytes()));
    match values {
        Some(values) => reply_values(ctx, values.iter()),
        None => ctx.reply_array(0),
    }
    Ok(())
}

/// MULTIMAP.LEN key field
fn len(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    let values = key.multimap()?.and_then(|map| map.get(args[2].as_bytes()));
    ctx.reply_count(values.map_or(0, |values| values.len()));
    Ok(())
}

/// MULTIMAP.RANGE key field start stop
fn range(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    let map = key.multimap()?;
    let start = parse_integer(&args[3])?;
    let stop = parse_integer(&args[4])?;
    match map.and_then(|map| map.get(args[2].as_bytes())) {
        Some(values) => reply_values(ctx, values.range(start, stop)),
        None => ctx.reply_array(0),
    }
    Ok(())
}

/// MULTIMAP.CONTAINS key field value
fn contains(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    let values = key.multimap()?.and_then(|map| map.get(args[2].as_bytes()));
    ctx.reply_bool(values.is_some_and(|values| values.contains(args[3].as_bytes())));
    Ok(())
}

/// MULTIMAP.EXISTS key field
fn exists(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    let values = key.multimap()?.and_then(|map| map.get(args[2].as_bytes()));
    ctx.reply_bool(values.is_some());
    Ok(())
}

/// MULTIMAP.REMOVE key field value [value ...]
fn remove(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let mut key = ctx.open_write(&args[1]);
    let Some(map) = key.multimap_mut()? else {
        ctx.reply_integer(0);
        return Ok(());
    };
    let unwanted: Vec<&[u8]> = args[3..].iter().map(Arg::as_bytes).collect();
    let removed = map.remove_values(args[2].as_bytes(), &unwanted);
    let emptied = map.is_empty();
    if emptied {
        key.delete();
    }
    ctx.reply_count(removed);
    if removed > 0 {
        ctx.wrote(&args[1], c"multimap.remove", emptied);
    }
    Ok(())
}

/// MULTIMAP.REPLACE key field value [value ...]
fn replace(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let mut key = ctx.open_write(&args[1]);
    let map = key.multimap_or_create()?;
    let field = args[2].as_bytes();
    let new_values = args[3..].iter().map(Arg::as_bytes);
    let unchanged = map
        .get(field)
        .is_some_and(|values| values.iter().eq(new_values.clone()));
    let len = map.replace(field, new_values);
    ctx.reply_count(len);
    if !unchanged {
        ctx.wrote(&args[1], c"multimap.replace", false);
    }
    Ok(())
}

/// MULTIMAP.DEL key field [field ...]
fn del(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let mut key = ctx.open_write(&args[1]);
    let Some(map) = key.multimap_mut()? else {
        ctx.reply_integer(0);
        return Ok(());
    };
    let removed = args[2..]
        .iter()
        .filter(|field| map.remove_field(field.as_bytes()))
        .count();
    let emptied = map.is_empty();
    if emptied {
        key.delete();
    }
    ctx.reply_count(removed);
    if removed > 0 {
        ctx.wrote(&args[1], c"multimap.del", emptied);
    }
    Ok(())
}

/// MULTIMAP.CARD key
fn card(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    ctx.reply_count(key.multimap()?.map_or(0, |map| map.field_count()));
    Ok(())
}

/// MULTIMAP.SIZE key
fn size(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    ctx.reply_count(key.multimap()?.map_or(0, |map| map.value_count()));
    Ok(())
}

/// MULTIMAP.FIELDS key
fn fields(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    match key.multimap()? {
        Some(map) => {
            ctx.reply_array(map.field_count());
            for (field, _) in map.iter() {
                ctx.reply_bulk(field);
            }
        }
        None => ctx.reply_array(0),
    }
    Ok(())
}

/// MULTIMAP.GETALL key
fn getall(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    match key.multimap()? {
        Some(map) => {
            ctx.reply_map(map.field_count());
            for (field, values) in map.iter() {
                ctx.reply_bulk(field);
                reply_values(ctx, values.iter());
            }
        }
        None => ctx.reply_map(0),
    }
    Ok(())
}

/// MULTIMAP.SCAN key cursor [MATCH pattern] [COUNT count]
fn scan(ctx: &Context, args: &[Arg]) -> Result<(), Error> {
    let key = ctx.open_read(&args[1]);
    let map = key.multimap()?;
    let cursor = parse_cursor(&args[2])?;
    let options = ScanOptions::parse(&args[3..])?;

    let mut found: Vec<(&[u8], Values)> = Vec::new();
    let next_cursor = match map {
        Some(map) => map.scan(cursor, options.count, |field, values| {
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

    ctx.reply_array(2);
    ctx.reply_bulk(next_cursor.to_string().as_bytes());
    ctx.reply_array(found.len() * 2);
    for (field, values) in found {
        ctx.reply_bulk(field);
        reply_values(ctx, values.iter());
    }
    Ok(())
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
        let mut rest = args;
        while let [name, value, tail @ ..] = rest {
            let name = name.as_bytes();
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
                return Err(Error::Syntax);
            }
            rest = tail;
        }
        if rest.is_empty() {
            Ok(options)
        } else {
            Err(Error::Syntax)
        }
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

fn reply_values<'v>(ctx: &Context, values: impl ExactSizeIterator<Item = &'v [u8]>) {
    ctx.reply_array(values.len());
    for value in values {
        ctx.reply_bulk(value);
    }
}
