//! Field expiration: each mirrors the native hash-field command of Redis
//! 7.4+ (HEXPIRE, HTTL, HPERSIST and their variants) with its arguments,
//! per-field reply codes and error texts, including which error wins.
#![forbid(unsafe_code)]

use std::ffi::CStr;

use super::{field, read_clock, view, ReadResult, WriteResult};
use crate::datatype::MULTIMAP;
use crate::error::Error;
use crate::expire;
use crate::ffi::{now_ms, Arg, Outcome, ReadKey, Rewrite, WriteKey};
use crate::info::{self, Counter};
use crate::multimap::{self, ExpiryChange, ExpiryChanged, FieldExpiry};
use crate::reply::Reply;

const MAX_EXPIRY_MS: i64 = multimap::MAX_EXPIRY_MS as i64;

/// Per-field replies of the EXPIRE family.
const NO_SUCH_FIELD: i64 = -2;
const CONDITION_NOT_MET: i64 = 0;
const EXPIRY_SET: i64 = 1;
const DELETED: i64 = 2;
/// ...of TTL and PERSIST.
const NO_EXPIRY: i64 = -1;
const PERSISTED: i64 = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Milliseconds,
}

/// Whether a time is counted from now or from the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    Now,
    Epoch,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    /// Only fields without an expiry.
    Nx,
    /// Only fields with one.
    Xx,
    /// Only a later time than the field's (none counts as infinite).
    Gt,
    /// Only an earlier time than the field's (none counts as infinite).
    Lt,
}

impl Condition {
    fn parse(arg: &Arg) -> Option<Condition> {
        let word = arg.as_bytes();
        [
            (&b"NX"[..], Condition::Nx),
            (b"XX", Condition::Xx),
            (b"GT", Condition::Gt),
            (b"LT", Condition::Lt),
        ]
        .into_iter()
        .find_map(|(name, condition)| word.eq_ignore_ascii_case(name).then_some(condition))
    }

    /// Whether a field whose expiry is `current` (`None`: never) may get `new`.
    fn allows(self, current: Option<u64>, new: u64) -> bool {
        match (self, current) {
            (Condition::Always, _) => true,
            (Condition::Nx, current) => current.is_none(),
            (Condition::Xx, current) => current.is_some(),
            (Condition::Gt, None) => false,
            (Condition::Gt, Some(current)) => new > current,
            (Condition::Lt, None) => true,
            (Condition::Lt, Some(current)) => new < current,
        }
    }
}

/// MULTIMAP.EXPIRE key seconds [NX|XX|GT|LT] FIELDS numfields field [field ...]
pub(super) fn expire(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    set_expiry(
        key,
        args,
        Unit::Seconds,
        Base::Now,
        c"ERR invalid expire time in 'multimap.expire' command",
    )
}

/// MULTIMAP.PEXPIRE key milliseconds [NX|XX|GT|LT] FIELDS numfields field [field ...]
pub(super) fn pexpire(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    set_expiry(
        key,
        args,
        Unit::Milliseconds,
        Base::Now,
        c"ERR invalid expire time in 'multimap.pexpire' command",
    )
}

/// MULTIMAP.EXPIREAT key unix-time-seconds [NX|XX|GT|LT] FIELDS numfields field [field ...]
pub(super) fn expireat(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    set_expiry(
        key,
        args,
        Unit::Seconds,
        Base::Epoch,
        c"ERR invalid expire time in 'multimap.expireat' command",
    )
}

/// MULTIMAP.PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT] FIELDS numfields field [field ...]
pub(super) fn pexpireat(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    set_expiry(
        key,
        args,
        Unit::Milliseconds,
        Base::Epoch,
        c"ERR invalid expire time in 'multimap.pexpireat' command",
    )
}

/// The EXPIRE family, in HEXPIRE's order: the key's type, the time, the
/// condition, then the fields. Replicated as PEXPIREAT of the fields whose
/// expiry was set, at the absolute time, after a removal of each field a
/// time in the past deleted.
fn set_expiry(
    key: &mut WriteKey,
    args: &[Arg],
    unit: Unit,
    base: Base,
    out_of_range: &'static CStr,
) -> WriteResult {
    let env = key.env();
    let map = key.value_mut(&MULTIMAP)?;
    // 0 on a replica applying its master's stream, or loading the AOF: a
    // time in the past is then set like any other, as Redis does.
    let now = env.expiry_clock();
    let base = match base {
        Base::Now if now != 0 => now,
        Base::Now => now_ms(),
        Base::Epoch => 0,
    };
    let at = parse_expiry_time(&args[2], unit, base, out_of_range)?;
    let (condition, fields_at) = match Condition::parse(&args[3]) {
        Some(condition) => (condition, 4),
        None => (Condition::Always, 3),
    };
    let fields = parse_fields(args, fields_at, Error::NumFieldsNotAboveZero)?;
    let Some(map) = map else {
        return Ok(Outcome::unchanged(Reply::Codes(vec![
            NO_SUCH_FIELD;
            fields.len()
        ])));
    };
    let mut codes = Vec::with_capacity(fields.len());
    let mut expired = Vec::new();
    let mut set: Vec<Vec<u8>> = Vec::new();
    for arg in fields {
        let name = field(arg);
        let changed = map.change_expiry(name, now, |current| {
            if !condition.allows(current, at) {
                ExpiryChange::Keep
            } else if now != 0 && at <= now {
                ExpiryChange::RemoveField
            } else {
                ExpiryChange::Set(at)
            }
        });
        codes.push(match changed {
            ExpiryChanged::NoSuchField => NO_SUCH_FIELD,
            ExpiryChanged::RemovedExpired => {
                info::count(Counter::ExpiredFields, 1);
                expired.push(name.to_vec());
                NO_SUCH_FIELD
            }
            ExpiryChanged::Kept => CONDITION_NOT_MET,
            ExpiryChanged::RemovedField => {
                info::count(Counter::ExpiredFields, 1);
                expired.push(name.to_vec());
                DELETED
            }
            ExpiryChanged::Set => {
                set.push(name.to_vec());
                EXPIRY_SET
            }
        });
    }
    if set.is_empty() {
        return Ok(Outcome::unchanged(Reply::Codes(codes)).with_expired(expired));
    }
    expire::schedule(env.db(), args[1].as_bytes(), at);
    let mut rewritten = vec![
        at.to_string().into_bytes(),
        b"FIELDS".to_vec(),
        set.len().to_string().into_bytes(),
    ];
    rewritten.extend(set);
    let rewrite = Rewrite {
        command: c"MULTIMAP.PEXPIREAT",
        args: rewritten,
    };
    Ok(Outcome::changed(c"multimap.expire", Reply::Codes(codes))
        .replicated_as(rewrite)
        .with_expired(expired))
}

/// The absolute expiry time, in Unix milliseconds, that `arg` asks for.
/// `base` is the time it counts from (0: the Unix epoch).
fn parse_expiry_time(
    arg: &Arg,
    unit: Unit,
    base: u64,
    out_of_range: &'static CStr,
) -> Result<u64, Error> {
    let mut time = arg.to_i64().ok_or(Error::NotAnInteger)?;
    if time < 0 {
        return Err(Error::NegativeExpireTime);
    }
    if unit == Unit::Seconds {
        if time > MAX_EXPIRY_MS / 1000 {
            return Err(Error::ExpireTimeOutOfRange(out_of_range));
        }
        time *= 1000;
    }
    let base = i64::try_from(base).unwrap_or(i64::MAX);
    if time > MAX_EXPIRY_MS - base {
        return Err(Error::ExpireTimeOutOfRange(out_of_range));
    }
    Ok((time + base) as u64)
}

/// The field arguments after `FIELDS numfields` at `fields_at`; `bad_count`
/// is the error for a count that is not a positive integer (the commands
/// word it differently).
fn parse_fields(args: &[Arg], fields_at: usize, bad_count: Error) -> Result<&[Arg], Error> {
    let keyword_ok = args
        .get(fields_at)
        .is_some_and(|arg| arg.as_bytes().eq_ignore_ascii_case(b"FIELDS"));
    if !keyword_ok {
        return Err(Error::FieldsMissing);
    }
    let count = args
        .get(fields_at + 1)
        .and_then(Arg::to_i64)
        .filter(|&count| count >= 1)
        .ok_or(bad_count)?;
    let fields = &args[fields_at + 2..];
    if usize::try_from(count).ok() != Some(fields.len()) {
        return Err(Error::NumFieldsMismatch);
    }
    Ok(fields)
}

#[derive(Clone, Copy)]
enum Report {
    /// Time left, rounded up to seconds.
    Ttl,
    Pttl,
    /// The Unix time, rounded up to seconds.
    ExpireTime,
    PexpireTime,
}

/// MULTIMAP.TTL key FIELDS numfields field [field ...]
pub(super) fn ttl<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    report(key, args, Report::Ttl)
}

/// MULTIMAP.PTTL key FIELDS numfields field [field ...]
pub(super) fn pttl<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    report(key, args, Report::Pttl)
}

/// MULTIMAP.EXPIRETIME key FIELDS numfields field [field ...]
pub(super) fn expiretime<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    report(key, args, Report::ExpireTime)
}

/// MULTIMAP.PEXPIRETIME key FIELDS numfields field [field ...]
pub(super) fn pexpiretime<'k>(key: &'k ReadKey, args: &[Arg]) -> ReadResult<'k> {
    report(key, args, Report::PexpireTime)
}

fn report<'k>(key: &'k ReadKey, args: &[Arg], report: Report) -> ReadResult<'k> {
    let map = key.value(&MULTIMAP)?;
    let fields = parse_fields(args, 2, Error::FieldCountNotPositive)?;
    let Some(map) = map else {
        return Ok(Reply::Codes(vec![NO_SUCH_FIELD; fields.len()]));
    };
    let view = view(key, map);
    let now = || i64::try_from(now_ms()).unwrap_or(i64::MAX);
    let codes = fields
        .iter()
        .map(|name| match view.expiry(field(name)) {
            FieldExpiry::Missing => NO_SUCH_FIELD,
            FieldExpiry::Never => NO_EXPIRY,
            FieldExpiry::At(time) => {
                let time = time as i64;
                match report {
                    Report::Ttl => ((time - now()).max(0) + 999) / 1000,
                    Report::Pttl => (time - now()).max(0),
                    Report::ExpireTime => (time + 999) / 1000,
                    Report::PexpireTime => time,
                }
            }
        })
        .collect();
    Ok(Reply::Codes(codes))
}

/// MULTIMAP.PERSIST key FIELDS numfields field [field ...]
pub(super) fn persist(key: &mut WriteKey, args: &[Arg]) -> WriteResult {
    let env = key.env();
    let map = key.value_mut(&MULTIMAP)?;
    let fields = parse_fields(args, 2, Error::FieldCountNotPositive)?;
    let Some(map) = map else {
        return Ok(Outcome::unchanged(Reply::Codes(vec![
            NO_SUCH_FIELD;
            fields.len()
        ])));
    };
    let now = read_clock(env, map);
    let mut persisted = false;
    let codes = fields
        .iter()
        .map(|name| {
            let name = field(name);
            match map.view(now).expiry(name) {
                FieldExpiry::Missing => NO_SUCH_FIELD,
                FieldExpiry::Never => NO_EXPIRY,
                FieldExpiry::At(_) => {
                    map.persist(name);
                    persisted = true;
                    PERSISTED
                }
            }
        })
        .collect();
    Ok(Outcome::changed_if(
        persisted,
        c"multimap.persist",
        Reply::Codes(codes),
    ))
}
