//! The list-grade commands: each mirrors a native list command on one
//! field's values, with that command's argument rules, replies and error
//! texts (as of Redis 7.0), including which error wins when several apply.
#![forbid(unsafe_code)]

use super::{
    drop_expired, field, field_values, parse_integer, parse_options, read_clock, ReadResult,
    WriteResult,
};
use crate::datatype::MULTIMAP;
use crate::error::Error;
use crate::ffi::{Arg, Attempt, KeyEnv, Outcome, ReadKey, Rewrite, WriteKey};
use crate::multimap::{End, MultiMap, SetError};
use crate::reply::Reply;

/// What a blocking handler returns.
type BlockingResult = Result<Attempt<Reply<'static>>, Error>;

/// Timeouts at or past this many milliseconds overflow the server's
/// deadline arithmetic (about 146 million years).
const MAX_TIMEOUT_MS: f64 = (1u64 << 62) as f64;

/// MULTIMAP.PREPEND key field value [value ...]
pub(super) fn prepend(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let env = key.env();
    let map = key.value_or_insert_with(&MULTIMAP, MultiMap::new)?;
    let field = field(&args[2]);
    let expired = drop_expired(env, map, &args[1], field);
    let len = map.prepend(field, args[3..].iter().map(Arg::as_bytes));
    Ok(Outcome::changed(c"multimap.prepend", Reply::count(len)).with_expired(expired))
}

/// MULTIMAP.ADD key field value [value ...]
pub(super) fn add(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let env = key.env();
    let map = key.value_or_insert_with(&MULTIMAP, MultiMap::new)?;
    let field = field(&args[2]);
    let expired = drop_expired(env, map, &args[1], field);
    let added = map.add_missing(field, args[3..].iter().map(Arg::as_bytes));
    Ok(Outcome::changed_if(added > 0, c"multimap.add", Reply::count(added)).with_expired(expired))
}

/// MULTIMAP.POP key field LEFT|RIGHT [COUNT count]
pub(super) fn pop(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let end = parse_end(&args[3]).ok_or(Error::Syntax)?;
    // LPOP's rule: a count of 0 is allowed (and pops nothing).
    let count = match &args[4..] {
        [] => None,
        [name, count] if name.as_bytes().eq_ignore_ascii_case(b"COUNT") => {
            Some(parse_non_negative(count, Error::NotPositive)?)
        }
        _ => return Err(Error::Syntax),
    };
    // Made only when replied: a reply not sent would still be dropped.
    let missing = || match count {
        Some(_) => Reply::NullArray,
        None => Reply::Null,
    };
    let env = key.env();
    let Some(map) = key.value_mut(&MULTIMAP)? else {
        return Ok(Outcome::unchanged(missing()));
    };
    let field = field(&args[2]);
    let expired = drop_expired(env, map, &args[1], field);
    let (changed, reply) = match count {
        Some(count) => match map.pop(field, end, count) {
            Some(popped) => (!popped.is_empty(), Reply::TakenValues(popped)),
            None => return Ok(Outcome::unchanged(missing()).with_expired(expired)),
        },
        None => match map.pop_one(field, end) {
            Some(popped) => (true, Reply::Taken(popped)),
            None => return Ok(Outcome::unchanged(missing()).with_expired(expired)),
        },
    };
    Ok(Outcome::changed_if(changed, c"multimap.pop", reply).with_expired(expired))
}

/// MULTIMAP.BPOP key field LEFT|RIGHT timeout [COUNT count]
pub(super) fn bpop(key: &mut WriteKey, args: &[Arg]) -> BlockingResult {
    let end = parse_end(&args[3]).ok_or(Error::Syntax)?;
    // BLMPOP's rule: one COUNT, at least 1.
    let count = match &args[5..] {
        [] => 1,
        [name, count] if name.as_bytes().eq_ignore_ascii_case(b"COUNT") => count
            .to_i64()
            .filter(|&count| count >= 1)
            .and_then(|count| usize::try_from(count).ok())
            .ok_or(Error::CountNotAboveZero)?,
        _ => return Err(Error::Syntax),
    };
    let timeout_ms = parse_timeout(&args[4])?;
    let env = key.env();
    let Some(map) = key.value_mut(&MULTIMAP)? else {
        return Ok(Attempt::Wait { timeout_ms });
    };
    let field = field(&args[2]);
    // An expired field is waited on as a missing one. It stays where it is:
    // a client told to wait has nothing to propagate its removal with.
    if is_expired(env, map, field) {
        return Ok(Attempt::Wait { timeout_ms });
    }
    let Some(popped) = map.pop(field, end, count) else {
        return Ok(Attempt::Wait { timeout_ms });
    };
    // Replicas and the AOF must pop exactly what was popped here, whenever
    // that was: as a non-blocking pop of that many values.
    let rewrite = Rewrite {
        command: c"MULTIMAP.POP",
        args: vec![
            field.to_vec(),
            match end {
                End::Left => b"LEFT".to_vec(),
                End::Right => b"RIGHT".to_vec(),
            },
            b"COUNT".to_vec(),
            popped.len().to_string().into_bytes(),
        ],
    };
    let reply = Reply::TakenValues(popped);
    Ok(Attempt::Done(
        Outcome::changed(c"multimap.pop", reply).replicated_as(rewrite),
    ))
}

/// MULTIMAP.INDEX key field index
#[inline(always)]
pub(super) fn index<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    let values = field_values(key, args)?;
    // As LINDEX: a missing list answers nil before the index is looked at.
    let Some(values) = values else {
        return Ok(Reply::Null);
    };
    let index = parse_integer(&args[3])?;
    // A match, not `map_or`: a default built up front would be dropped
    // through the enum's drop glue on every hit.
    Ok(match values.get(index) {
        Some(value) => Reply::Value(value),
        None => Reply::Null,
    })
}

/// MULTIMAP.SET key field index value
pub(super) fn set(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let env = key.env();
    let Some(map) = key.value_mut(&MULTIMAP)? else {
        return Err(Error::NoSuchKey);
    };
    let field = field(&args[2]);
    // Missing: the error leaves it in place, for expiry to remove.
    if is_expired(env, map, field) {
        return Err(Error::NoSuchKey);
    }
    // As LSET: a missing list wins over a malformed index.
    let index = match parse_integer(&args[3]) {
        Ok(index) => index,
        Err(_) if map.get(field).is_none() => return Err(Error::NoSuchKey),
        Err(error) => return Err(error),
    };
    match map.set_value(field, index, args[4].as_bytes()) {
        Ok(changed) => Ok(Outcome::changed_if(changed, c"multimap.set", Reply::Ok)),
        Err(SetError::NoSuchField) => Err(Error::NoSuchKey),
        Err(SetError::IndexOutOfRange) => Err(Error::IndexOutOfRange),
    }
}

/// MULTIMAP.TRIM key field start stop
pub(super) fn trim(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let start = parse_integer(&args[3])?;
    let stop = parse_integer(&args[4])?;
    let env = key.env();
    let Some(map) = key.value_mut(&MULTIMAP)? else {
        return Ok(Outcome::unchanged(Reply::Ok));
    };
    let field = field(&args[2]);
    let expired = drop_expired(env, map, &args[1], field);
    let removed = map.trim(field, start, stop);
    Ok(Outcome::changed_if(removed > 0, c"multimap.trim", Reply::Ok).with_expired(expired))
}

/// Whether `field` has expired, leaving it where it is.
fn is_expired(env: KeyEnv, map: &MultiMap, field: &[u8]) -> bool {
    map.has_expired(field, read_clock(env, map))
}

/// MULTIMAP.POS key field value [RANK rank] [COUNT num] [MAXLEN len]
pub(super) fn pos<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    let options = PosOptions::parse(&args[4..])?;
    let values = field_values(key, args)?;
    let Some(values) = values else {
        return Ok(match options.count {
            Some(_) => Reply::EmptyArray,
            None => Reply::Null,
        });
    };
    let wanted = options.count.unwrap_or(1);
    let found = values.positions(args[3].as_bytes(), options.rank, wanted, options.maxlen);
    Ok(match options.count {
        Some(_) => Reply::Integers(found),
        None => found
            .first()
            .map_or(Reply::Null, |&index| Reply::count(index)),
    })
}

struct PosOptions {
    rank: i64,
    /// `None` without COUNT (reply one position); 0 means every match.
    count: Option<usize>,
    /// 0 means no limit.
    maxlen: usize,
}

impl PosOptions {
    /// LPOS's options, in any order, the last of each winning; each error as
    /// LPOS words it, the first bad option deciding.
    fn parse(args: &[Arg]) -> Result<PosOptions, Error> {
        let mut options = PosOptions {
            rank: 1,
            count: None,
            maxlen: 0,
        };
        parse_options(args, |name, value| {
            if name.eq_ignore_ascii_case(b"RANK") {
                let rank = parse_integer(value)?;
                // -i64::MIN does not exist: newer Redis refuses it as it refuses 0.
                if rank == 0 || rank == i64::MIN {
                    return Err(Error::RankZero);
                }
                options.rank = rank;
            } else if name.eq_ignore_ascii_case(b"COUNT") {
                options.count = Some(parse_non_negative(value, Error::MatchCountNegative)?);
            } else if name.eq_ignore_ascii_case(b"MAXLEN") {
                options.maxlen = parse_non_negative(value, Error::MaxlenNegative)?;
            } else {
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(options)
    }
}

/// A count that must be a non-negative integer; `error` covers both a
/// negative number and no number at all, as in LPOS and LPOP.
fn parse_non_negative(arg: &Arg, error: Error) -> Result<usize, Error> {
    arg.to_i64()
        .and_then(|value| usize::try_from(value).ok())
        .ok_or(error)
}

/// LEFT or RIGHT, in any case: spelt out letter by letter, which the
/// compiler turns into a few comparisons, where `eq_ignore_ascii_case`
/// lowers every byte of both words first. An `Option`, which comes back in
/// a register, where a `Result` with an `Error` comes back through memory.
fn parse_end(arg: &Arg) -> Option<End> {
    match arg.as_bytes() {
        [b'L' | b'l', b'E' | b'e', b'F' | b'f', b'T' | b't'] => Some(End::Left),
        [b'R' | b'r', b'I' | b'i', b'G' | b'g', b'H' | b'h', b'T' | b't'] => Some(End::Right),
        _ => None,
    }
}

/// Seconds, decimals allowed, rounded up to whole milliseconds (0: wait
/// forever), with BLPOP's errors.
fn parse_timeout(arg: &Arg) -> Result<i64, Error> {
    let seconds = arg.to_f64().ok_or(Error::TimeoutNotANumber)?;
    let milliseconds = (seconds * 1000.0).ceil();
    if milliseconds < 0.0 {
        Err(Error::TimeoutNegative)
    } else if milliseconds >= MAX_TIMEOUT_MS {
        Err(Error::TimeoutOutOfRange)
    } else {
        Ok(milliseconds as i64)
    }
}
