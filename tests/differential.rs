//! Differential test: a seeded random sequence of every MULTIMAP command runs
//! against a real server and against an in-memory model, and every reply must
//! be the one the model predicts:
//!
//! - exact replies for INSERT, GET, VALUES, LEN, RANGE (LRANGE's index rules,
//!   extreme and out-of-range indexes), CONTAINS, EXISTS, REMOVE, REPLACE,
//!   DEL, CARD, SIZE; FIELDS and GETALL in any field order, but the same order
//!   while the key is unchanged;
//! - SCAN with random MATCH globs and COUNTs: one call from any cursor returns
//!   only matching fields with their current values; a whole iteration of an
//!   unchanged key returns each matching field exactly once; an iteration
//!   with writes between its calls returns every field present throughout;
//! - exact error texts for WRONGTYPE, non-integer indexes and counts, bad SCAN
//!   options and cursors, and wrong arities, with nothing changed.
//!
//! Fields and values are binary (empty, NUL, 0xff, glob metacharacters) and
//! drawn from small pools so that they collide; now and then a value is large
//! (up to 100 KiB). Persistence events come at random points: `DEBUG RELOAD`,
//! `BGREWRITEAOF`, restart from RDB, restart from the AOF (fsynced on every
//! write, rewritten first or not, with or without an RDB preamble). Each must
//! keep `DEBUG DIGEST`, and every key must then hold exactly what the model
//! holds.
//!
//! `MULTIMAP_SEED=<u64>` replays a run (the seed is printed at the start and
//! in every failure, with the index of the failing operation);
//! `MULTIMAP_OPS=<count>` sets its length (default 50,000, about 15 s in a
//! debug build).

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use common::{
    aof_rewrite_status, arity_error, bulk_strings, digest, env_number, error_line, field_pairs,
    scan_reply, seed, show, show_command, show_list, show_reply, wait_for_aof_rewrite, Bytes,
    Fields, Pairs, Rng, Seed, Server, COMMANDS, COUNTS_BELOW_ONE, INVALID_CURSOR,
    MALFORMED_CURSORS, NOT_AN_INTEGER, NOT_INTEGERS, NOT_INTEGER_COUNTS,
    SCAN_OPTIONS_MISSING_VALUE, SYNTAX, UNKNOWN_SCAN_OPTIONS, WRONGTYPE,
};
use redis::{Connection, Value};
use tempfile::TempDir;

// The model's content is `Fields`: ordered maps, not hash maps, so that
// iterating the model (to pick an existing field or value) is the same on
// every replay.

const DEFAULT_OPS: usize = 50_000;

/// Commands sent per pipeline: replies are still checked one by one, but the
/// server fsyncs the AOF once per batch instead of once per write.
const BATCH: usize = 64;

/// A SCAN iteration of these small keys that needs more calls never ends.
const MAX_SCAN_CALLS: usize = 10_000;

/// Failure messages show this many of the latest operations.
const HISTORY: usize = 40;

/// A few keys, so that operations often meet the same key, one of them binary.
const KEYS: [&[u8]; 4] = [b"mm:a", b"mm:b", b"{mm}:c", b"mm\0\xff"];

/// A string key every MULTIMAP command must refuse with WRONGTYPE.
const STRING_KEY: &[u8] = b"mm:string";
const STRING_VALUE: &[u8] = b"not a multimap";

/// Field names: few enough that they collide, with empty, NUL, 0xff and glob
/// metacharacters (which MATCH patterns must escape), and one long name.
const FIELDS: [&[u8]; 16] = [
    b"",
    b"\0",
    b"\xff",
    b"a",
    b"ab",
    b"abc",
    b"b",
    b"ba",
    b"a*",
    b"[x]",
    b"x?y",
    b"\\",
    b"f\0g",
    b"field",
    b"\xff\xfe\0",
    b"a-long-field-name-of-more-than-sixty-four-bytes-to-leave-the-small-size-classes!!",
];

/// Small values, with duplicates in a field bound to happen.
const SMALL_VALUES: [&[u8]; 14] = [
    b"",
    b"\0",
    b"\0\0",
    b"\xff",
    b"a",
    b"b",
    b"ab",
    b"a\0",
    b"\0a",
    b"\xff\xfe",
    b"value",
    b"123",
    b"-1",
    b"\r\n",
];

/// Lengths of the occasional large value: both sides of the value-length
/// encoding's boundaries, and 100 KiB (twice, differing in the last byte only).
const LARGE_LENGTHS: [usize; 9] = [
    127,
    128,
    16_383,
    16_384,
    65_535,
    65_536,
    65_537,
    100 * 1024,
    100 * 1024,
];

const SCAN_COUNTS: [i64; 8] = [1, 2, 3, 5, 10, 100, 1000, i64::MAX];

/// MATCH patterns whose meaning is plain, beside the randomly built ones.
const PATTERNS: [&[u8]; 16] = [
    b"*", b"a*", b"*b", b"?", b"??", b"?b*", b"[ab]*", b"[^a]*", b"[a-c]?", b"*\0*", b"\xff*",
    b"a\\*", b"\\[x]", b"x\\?y", b"\\\\", b"",
];

// ---------------------------------------------------------------- operations

#[derive(Clone, Debug)]
struct ScanOptions {
    pattern: Option<Bytes>,
    count: Option<i64>,
    /// COUNT before MATCH on the command line.
    count_first: bool,
}

impl ScanOptions {
    fn args(&self) -> Vec<Bytes> {
        let pattern = self
            .pattern
            .iter()
            .flat_map(|pattern| [b"MATCH".to_vec(), pattern.clone()]);
        let count = self
            .count
            .iter()
            .flat_map(|count| [b"COUNT".to_vec(), count.to_string().into_bytes()]);
        if self.count_first {
            count.chain(pattern).collect()
        } else {
            pattern.chain(count).collect()
        }
    }

    fn matches(&self, field: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|pattern| glob_matches(pattern, field))
    }
}

/// One step of the random sequence.
#[derive(Clone, Debug)]
enum Op {
    Insert {
        key: Bytes,
        field: Bytes,
        values: Vec<Bytes>,
    },
    Get {
        key: Bytes,
        field: Bytes,
    },
    /// MULTIMAP.VALUES, the original module's name for GET.
    Values {
        key: Bytes,
        field: Bytes,
    },
    Len {
        key: Bytes,
        field: Bytes,
    },
    Range {
        key: Bytes,
        field: Bytes,
        start: i64,
        stop: i64,
    },
    Contains {
        key: Bytes,
        field: Bytes,
        value: Bytes,
    },
    Exists {
        key: Bytes,
        field: Bytes,
    },
    Remove {
        key: Bytes,
        field: Bytes,
        values: Vec<Bytes>,
    },
    Replace {
        key: Bytes,
        field: Bytes,
        values: Vec<Bytes>,
    },
    Del {
        key: Bytes,
        fields: Vec<Bytes>,
    },
    Card {
        key: Bytes,
    },
    Size {
        key: Bytes,
    },
    Fields {
        key: Bytes,
    },
    GetAll {
        key: Bytes,
    },
    /// One SCAN call from any cursor: 0, or one the server never gave out.
    Scan {
        key: Bytes,
        cursor: u64,
        options: ScanOptions,
    },
    /// A whole SCAN iteration with nothing in between: each matching field
    /// exactly once.
    ScanAll {
        key: Bytes,
        options: ScanOptions,
    },
    /// The first call of a SCAN iteration that later operations interleave
    /// with (abandoning any iteration still open).
    ScanStart {
        key: Bytes,
        options: ScanOptions,
    },
    /// The next call of the open iteration.
    ScanContinue,
    /// A command the server must refuse with exactly `error`, changing
    /// nothing: wrong type, malformed argument, wrong arity.
    Refused {
        args: Vec<Bytes>,
        error: String,
    },
}

impl Op {
    /// The command line. SCAN iterations have none of their own: each call's
    /// cursor comes from the server's previous reply.
    fn args(&self) -> Option<Vec<Bytes>> {
        fn line(name: &str, parts: &[&[u8]], rest: &[Bytes]) -> Vec<Bytes> {
            let mut args = vec![name.as_bytes().to_vec()];
            args.extend(parts.iter().map(|part| part.to_vec()));
            args.extend(rest.iter().cloned());
            args
        }
        Some(match self {
            Op::Insert { key, field, values } => line("MULTIMAP.INSERT", &[key, field], values),
            Op::Get { key, field } => line("MULTIMAP.GET", &[key, field], &[]),
            Op::Values { key, field } => line("MULTIMAP.VALUES", &[key, field], &[]),
            Op::Len { key, field } => line("MULTIMAP.LEN", &[key, field], &[]),
            Op::Range {
                key,
                field,
                start,
                stop,
            } => line(
                "MULTIMAP.RANGE",
                &[
                    key,
                    field,
                    start.to_string().as_bytes(),
                    stop.to_string().as_bytes(),
                ],
                &[],
            ),
            Op::Contains { key, field, value } => {
                line("MULTIMAP.CONTAINS", &[key, field, value], &[])
            }
            Op::Exists { key, field } => line("MULTIMAP.EXISTS", &[key, field], &[]),
            Op::Remove { key, field, values } => line("MULTIMAP.REMOVE", &[key, field], values),
            Op::Replace { key, field, values } => line("MULTIMAP.REPLACE", &[key, field], values),
            Op::Del { key, fields } => line("MULTIMAP.DEL", &[key], fields),
            Op::Card { key } => line("MULTIMAP.CARD", &[key], &[]),
            Op::Size { key } => line("MULTIMAP.SIZE", &[key], &[]),
            Op::Fields { key } => line("MULTIMAP.FIELDS", &[key], &[]),
            Op::GetAll { key } => line("MULTIMAP.GETALL", &[key], &[]),
            Op::Scan {
                key,
                cursor,
                options,
            } => scan_args(key, &cursor.to_string(), options),
            Op::Refused { args, .. } => args.clone(),
            Op::ScanAll { .. } | Op::ScanStart { .. } | Op::ScanContinue => return None,
        })
    }

    /// The key a write command changes.
    fn written_key(&self) -> Option<&[u8]> {
        match self {
            Op::Insert { key, .. }
            | Op::Remove { key, .. }
            | Op::Replace { key, .. }
            | Op::Del { key, .. } => Some(key),
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Op::Insert { .. } => "INSERT",
            Op::Get { .. } => "GET",
            Op::Values { .. } => "VALUES",
            Op::Len { .. } => "LEN",
            Op::Range { .. } => "RANGE",
            Op::Contains { .. } => "CONTAINS",
            Op::Exists { .. } => "EXISTS",
            Op::Remove { .. } => "REMOVE",
            Op::Replace { .. } => "REPLACE",
            Op::Del { .. } => "DEL",
            Op::Card { .. } => "CARD",
            Op::Size { .. } => "SIZE",
            Op::Fields { .. } => "FIELDS",
            Op::GetAll { .. } => "GETALL",
            Op::Scan { .. } => "SCAN (one call)",
            Op::ScanAll { .. } => "SCAN (whole iteration)",
            Op::ScanStart { .. } => "SCAN (interleaved, first call)",
            Op::ScanContinue => "SCAN (interleaved, next call)",
            Op::Refused { error, .. } if error == WRONGTYPE => "refused: WRONGTYPE",
            Op::Refused { .. } => "refused: bad arguments",
        }
    }

    fn describe(&self) -> String {
        match (self, self.args()) {
            (_, Some(args)) => show_command(&args),
            (Op::ScanAll { key, options }, None) => format!(
                "whole SCAN iteration: {} ...",
                show_command(&scan_args(key, "0", options))
            ),
            (Op::ScanStart { key, options }, None) => format!(
                "interleaved SCAN, first call: {}",
                show_command(&scan_args(key, "0", options))
            ),
            _ => "interleaved SCAN, next call".to_owned(),
        }
    }
}

fn scan_args(key: &[u8], cursor: &str, options: &ScanOptions) -> Vec<Bytes> {
    let mut args = vec![
        b"MULTIMAP.SCAN".to_vec(),
        key.to_vec(),
        cursor.as_bytes().to_vec(),
    ];
    args.extend(options.args());
    args
}

/// A persistence event, between two operations.
#[derive(Clone, Copy, Debug)]
enum Event {
    /// `DEBUG RELOAD`: save an RDB and load it back in place.
    Reload,
    /// `BGREWRITEAOF`, so later writes go to an incremental file after it.
    RewriteAof,
    /// `SAVE`, stop, restart from the RDB (with the AOF off).
    RestartFromRdb,
    /// Stop and restart from the AOF, rewritten first or not.
    RestartFromAof { rewrite: bool },
}

// ---------------------------------------------------------------- model

/// The reply the server must give to one command.
#[derive(Debug)]
enum Expect {
    Int(i64),
    /// Values in this order.
    Values(Vec<Bytes>),
    /// Field names in any order (sorted here).
    FieldNames(Vec<Bytes>),
    /// GETALL's flat field/values array, fields in any order.
    Map(Fields),
    /// A SCAN call from an arbitrary cursor: a well-formed reply whose pairs
    /// are all among these (the key's fields that match the pattern).
    ScanCall(Fields),
    Error(String),
}

/// What the server should hold: each MultiMap key's fields. A key with no
/// fields and a field with no values are absent, as on the server.
#[derive(Default)]
struct Model {
    keys: BTreeMap<Bytes, Fields>,
}

impl Model {
    fn values(&self, key: &[u8], field: &[u8]) -> &[Bytes] {
        self.keys
            .get(key)
            .and_then(|fields| fields.get(field))
            .map_or(&[], Vec::as_slice)
    }

    fn fields(&self, key: &[u8]) -> Option<&Fields> {
        self.keys.get(key)
    }

    /// The key's fields that `options` lets SCAN return, with their values.
    fn matching(&self, key: &[u8], options: &ScanOptions) -> Fields {
        self.fields(key)
            .into_iter()
            .flatten()
            .filter(|(field, _)| options.matches(field))
            .map(|(field, values)| (field.clone(), values.clone()))
            .collect()
    }

    /// Drops `field` of `key` if it emptied, then `key` if it emptied.
    fn prune(&mut self, key: &[u8], field: &[u8]) {
        if let Some(fields) = self.keys.get_mut(key) {
            if fields.get(field).is_some_and(Vec::is_empty) {
                fields.remove(field);
            }
            if fields.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// Changes the model as `op` changes the server and returns the reply the
    /// server must give; None for SCAN iterations, which the harness checks
    /// call by call.
    fn apply(&mut self, op: &Op) -> Option<Expect> {
        let count = |n: usize| Some(Expect::Int(i64::try_from(n).unwrap()));
        match op {
            Op::Insert { key, field, values } => {
                let stored = self
                    .keys
                    .entry(key.clone())
                    .or_default()
                    .entry(field.clone())
                    .or_default();
                stored.extend(values.iter().cloned());
                count(stored.len())
            }
            Op::Get { key, field } | Op::Values { key, field } => {
                Some(Expect::Values(self.values(key, field).to_vec()))
            }
            Op::Len { key, field } => count(self.values(key, field).len()),
            Op::Range {
                key,
                field,
                start,
                stop,
            } => Some(Expect::Values(
                lrange(self.values(key, field), *start, *stop).to_vec(),
            )),
            Op::Contains { key, field, value } => {
                count(usize::from(self.values(key, field).contains(value)))
            }
            Op::Exists { key, field } => count(usize::from(!self.values(key, field).is_empty())),
            Op::Remove { key, field, values } => {
                let mut removed = 0;
                if let Some(stored) = self.keys.get_mut(key).and_then(|f| f.get_mut(field)) {
                    for value in values {
                        let before = stored.len();
                        stored.retain(|stored| stored != value);
                        removed += before - stored.len();
                    }
                }
                self.prune(key, field);
                count(removed)
            }
            Op::Replace { key, field, values } => {
                let fields = self.keys.entry(key.clone()).or_default();
                fields.insert(field.clone(), values.clone());
                count(values.len())
            }
            Op::Del { key, fields } => {
                let mut removed = 0;
                for field in fields {
                    if let Some(stored) = self.keys.get_mut(key) {
                        removed += usize::from(stored.remove(field).is_some());
                    }
                    self.prune(key, field);
                }
                count(removed)
            }
            Op::Card { key } => count(self.fields(key).map_or(0, BTreeMap::len)),
            Op::Size { key } => count(
                self.fields(key)
                    .map_or(0, |fields| fields.values().map(Vec::len).sum()),
            ),
            Op::Fields { key } => Some(Expect::FieldNames(
                self.fields(key)
                    .into_iter()
                    .flatten()
                    .map(|(f, _)| f.clone())
                    .collect(),
            )),
            Op::GetAll { key } => Some(Expect::Map(self.fields(key).cloned().unwrap_or_default())),
            Op::Scan { key, options, .. } => Some(Expect::ScanCall(self.matching(key, options))),
            Op::Refused { error, .. } => Some(Expect::Error(error.clone())),
            Op::ScanAll { .. } | Op::ScanStart { .. } | Op::ScanContinue => None,
        }
    }
}

/// LRANGE's rules: negative indexes count from the end, out-of-range ones are
/// clamped, and a start past the stop or the end gives nothing.
fn lrange(values: &[Bytes], start: i64, stop: i64) -> &[Bytes] {
    let len = i64::try_from(values.len()).unwrap();
    // len >= 0, so len + index cannot overflow for a negative index.
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return &[];
    }
    let stop = stop.min(len - 1);
    &values[usize::try_from(start).unwrap()..=usize::try_from(stop).unwrap()]
}

/// One element of a glob pattern: `*`, or a test of one byte (a literal, `?`,
/// an escape or a `[...]` class) as the byte ranges it accepts, or with
/// `negated` the ranges it refuses.
enum GlobToken {
    Star,
    Byte {
        ranges: Vec<(u8, u8)>,
        negated: bool,
    },
}

/// Redis's glob rules (`stringmatchlen`) for the well-formed patterns this
/// test generates. One difference from Redis's own matcher: a pattern of only
/// stars matches the empty field here, as `*` does in Redis's SCAN (which
/// special-cases it); the module documents choosing this uniform rule.
fn glob_matches(pattern: &[u8], subject: &[u8]) -> bool {
    // reachable[i]: the tokens so far can consume exactly subject[..i].
    let mut reachable = vec![false; subject.len() + 1];
    reachable[0] = true;
    for token in glob_tokens(pattern) {
        match token {
            GlobToken::Star => {
                for i in 1..reachable.len() {
                    reachable[i] |= reachable[i - 1];
                }
            }
            GlobToken::Byte { ranges, negated } => {
                for i in (1..reachable.len()).rev() {
                    let byte = subject[i - 1];
                    let listed = ranges
                        .iter()
                        .any(|&(low, high)| (low..=high).contains(&byte));
                    reachable[i] = reachable[i - 1] && listed != negated;
                }
                reachable[0] = false;
            }
        }
    }
    reachable[subject.len()]
}

fn glob_tokens(mut pattern: &[u8]) -> Vec<GlobToken> {
    let literal = |byte: u8| GlobToken::Byte {
        ranges: vec![(byte, byte)],
        negated: false,
    };
    let mut tokens = Vec::new();
    while let Some((&first, rest)) = pattern.split_first() {
        pattern = rest;
        let token = match (first, pattern) {
            (b'*', _) => GlobToken::Star,
            (b'?', _) => GlobToken::Byte {
                ranges: Vec::new(),
                negated: true,
            },
            (b'\\', [escaped, rest @ ..]) => {
                pattern = rest;
                literal(*escaped)
            }
            (b'[', _) => {
                let negated = pattern.first() == Some(&b'^');
                if negated {
                    pattern = &pattern[1..];
                }
                let mut ranges = Vec::new();
                // The order of these cases is stringmatchlen's.
                loop {
                    match pattern {
                        [b'\\', escaped, rest @ ..] => {
                            ranges.push((*escaped, *escaped));
                            pattern = rest;
                        }
                        [b']', rest @ ..] => {
                            pattern = rest;
                            break;
                        }
                        [low, b'-', high, rest @ ..] => {
                            ranges.push((*low.min(high), *low.max(high)));
                            pattern = rest;
                        }
                        [byte, rest @ ..] => {
                            ranges.push((*byte, *byte));
                            pattern = rest;
                        }
                        [] => panic!("the test generated an unterminated class"),
                    }
                }
                GlobToken::Byte { ranges, negated }
            }
            (byte, _) => literal(byte),
        };
        tokens.push(token);
    }
    tokens
}

// ---------------------------------------------------------------- replies

/// A SCAN reply whose cursor is a decimal unsigned 64-bit number, as this
/// module's cursors are (the contract only promises an opaque string).
fn scan_reply_with_u64_cursor(reply: &Value) -> Result<(String, Pairs), String> {
    let (cursor, pairs) = scan_reply(reply)?;
    let decimal = !cursor.is_empty() && cursor.bytes().all(|byte| byte.is_ascii_digit());
    if !decimal || cursor.parse::<u64>().is_err() {
        return Err(format!(
            "cursor {} is not an unsigned 64-bit number",
            show(cursor.as_bytes())
        ));
    }
    Ok((cursor, pairs))
}

fn same_values(expected: &[Bytes], got: &[Bytes]) -> Result<(), String> {
    if expected == got {
        return Ok(());
    }
    let first = expected
        .iter()
        .zip(got)
        .position(|(e, g)| e != g)
        .unwrap_or(expected.len().min(got.len()));
    Err(format!(
        "expected {} values {}, got {} values {} (first difference at index {first})",
        expected.len(),
        show_list(expected),
        got.len(),
        show_list(got)
    ))
}

fn same_fields(expected: &Fields, got: &Fields) -> Result<(), String> {
    let missing: Vec<Bytes> = expected
        .keys()
        .filter(|f| !got.contains_key(*f))
        .cloned()
        .collect();
    let extra: Vec<Bytes> = got
        .keys()
        .filter(|f| !expected.contains_key(*f))
        .cloned()
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(format!(
            "fields missing {}, unexpected {}",
            show_list(&missing),
            show_list(&extra)
        ));
    }
    for (field, values) in expected {
        same_values(values, &got[field])
            .map_err(|error| format!("field {}: {error}", show(field)))?;
    }
    Ok(())
}

/// Each (field, values) a SCAN call returned must be among `allowed`.
fn check_scan_items(items: &Pairs, allowed: &Fields) -> Result<(), String> {
    for (field, values) in items {
        let Some(expected) = allowed.get(field) else {
            return Err(format!(
                "SCAN returned field {}, which the key does not hold or the pattern excludes",
                show(field)
            ));
        };
        same_values(expected, values)
            .map_err(|error| format!("SCAN field {}: {error}", show(field)))?;
    }
    Ok(())
}

impl Expect {
    fn check(&self, reply: &Value) -> Result<(), String> {
        match self {
            Expect::Int(expected) => match reply {
                Value::Int(got) if got == expected => Ok(()),
                _ => Err(format!("expected {expected}, got {}", show_reply(reply))),
            },
            Expect::Values(expected) => same_values(expected, &bulk_strings(reply)?),
            Expect::FieldNames(expected) => {
                let mut got = bulk_strings(reply)?;
                got.sort();
                if got == *expected {
                    Ok(())
                } else {
                    Err(format!(
                        "expected fields {}, got {}",
                        show_list(expected),
                        show_list(&got)
                    ))
                }
            }
            Expect::Map(expected) => {
                let pairs = field_pairs(reply)?;
                let count = pairs.len();
                let got: Fields = pairs.into_iter().collect();
                if got.len() != count {
                    return Err("GETALL returned a field twice".to_owned());
                }
                same_fields(expected, &got)
            }
            Expect::ScanCall(allowed) => {
                check_scan_items(&scan_reply_with_u64_cursor(reply)?.1, allowed)
            }
            Expect::Error(expected) => {
                let Some(got) = error_line(reply) else {
                    return Err(format!(
                        "expected error {expected:?}, got {}",
                        show_reply(reply)
                    ));
                };
                if got == *expected {
                    Ok(())
                } else {
                    Err(format!("expected error {expected:?}, got error {got:?}"))
                }
            }
        }
    }
}

// ---------------------------------------------------------------- generator

/// Draws operations and events from the seed. It reads the model (to pick
/// values a field holds, indexes around its length) but never the server, so
/// a seed always replays the same sequence of data commands and events. (Only
/// SCAN calls may differ between runs: the module seeds each map's hash at
/// random, so cursors, and when an iteration ends, vary.)
struct Generator {
    rng: Rng,
    large_values: Vec<Bytes>,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        let large_values = LARGE_LENGTHS
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let mut value = Rng(len as u64).bytes(len);
                // The two 100 KiB values differ in their last byte only.
                *value.last_mut().unwrap() = i as u8;
                value
            })
            .collect();
        Generator {
            rng: Rng(seed),
            large_values,
        }
    }

    fn key(&mut self) -> Bytes {
        self.rng.pick(&KEYS).to_vec()
    }

    /// A field from the small pool, or now and then one of 256 more, so that
    /// keys also grow past the smallest table sizes (and SCAN iterations see
    /// the table grow and shrink under them).
    fn field(&mut self) -> Bytes {
        if self.rng.chance(16) {
            format!("f{}", self.rng.index(256)).into_bytes()
        } else {
            self.rng.pick(&FIELDS).to_vec()
        }
    }

    /// A value: rarely a large one; often one the field already holds, so that
    /// CONTAINS and REMOVE find something.
    fn value(&mut self, model: &Model, key: &[u8], field: &[u8]) -> Bytes {
        if self.rng.chance(400) {
            let i = self.rng.index(self.large_values.len());
            return self.large_values[i].clone();
        }
        let stored = model.values(key, field);
        if !stored.is_empty() && self.rng.chance(2) {
            return self.rng.pick(stored).clone();
        }
        self.rng.pick(&SMALL_VALUES).to_vec()
    }

    /// Mostly a few values, sometimes dozens, rarely well over a thousand:
    /// half of those numbered, so that one REMOVE does not strip them all and
    /// RANGE meets long fields (where walking from the nearer end counts).
    fn values(&mut self, model: &Model, key: &[u8], field: &[u8]) -> Vec<Bytes> {
        let n = match self.rng.index(200) {
            0 => 50 + self.rng.index(1500),
            1..=5 => 5 + self.rng.index(26),
            _ => 1 + self.rng.index(4),
        };
        (0..n)
            .map(|i| {
                if n >= 50 && i % 2 == 0 {
                    format!("n{}", self.rng.index(100_000)).into_bytes()
                } else {
                    self.value(model, key, field)
                }
            })
            .collect()
    }

    /// A RANGE index: mostly around the field's length (in range or just out,
    /// positive or negative), sometimes anything, sometimes an extreme.
    fn index(&mut self, len: usize) -> i64 {
        let len = len as i64;
        match self.rng.index(12) {
            0 => *self
                .rng
                .pick(&[i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, -1, 0]),
            1 => self.rng.next() as i64,
            _ => self.rng.index(2 * len as usize + 7) as i64 - (len + 3),
        }
    }

    fn scan_options(&mut self) -> ScanOptions {
        ScanOptions {
            pattern: if self.rng.chance(3) {
                None
            } else {
                Some(self.pattern())
            },
            count: if self.rng.chance(3) {
                None
            } else {
                Some(*self.rng.pick(&SCAN_COUNTS))
            },
            count_first: self.rng.chance(2),
        }
    }

    /// A plain pattern from the list, or one built from random glob tokens:
    /// literals (including NUL and 0xff), `*`, `?`, escapes and classes with
    /// ranges between ASCII bytes (Redis compares range bounds as signed
    /// chars, so ranges over bytes >= 0x80 mean different things on x86 and
    /// ARM; the contract does not settle them).
    fn pattern(&mut self) -> Bytes {
        const LITERALS: &[u8] = b"abcfgxy0\0\xff";
        const CLASS_LITERALS: &[u8] = b"abxy0*?[\0\xff";
        const RANGES: [(u8, u8); 4] = [(b'a', b'c'), (b'0', b'9'), (b'x', b'a'), (b'A', b'z')];
        if self.rng.chance(2) {
            return self.rng.pick(&PATTERNS).to_vec();
        }
        let mut pattern = Vec::new();
        for _ in 0..1 + self.rng.index(4) {
            match self.rng.index(8) {
                0..=2 => pattern.push(*self.rng.pick(LITERALS)),
                3 => pattern.push(b'*'),
                4 => pattern.push(b'?'),
                5 => pattern.extend([b'\\', *self.rng.pick(b"*?[]\\a")]),
                _ => {
                    pattern.push(b'[');
                    if self.rng.chance(3) {
                        pattern.push(b'^');
                    }
                    for _ in 0..1 + self.rng.index(3) {
                        match self.rng.index(3) {
                            0 => pattern.push(*self.rng.pick(CLASS_LITERALS)),
                            1 => {
                                let (low, high) = *self.rng.pick(&RANGES);
                                pattern.extend([low, b'-', high]);
                            }
                            _ => pattern.extend([b'\\', *self.rng.pick(b"]\\-")]),
                        }
                    }
                    pattern.push(b']');
                }
            }
        }
        pattern
    }

    /// The next operation; `scan_open` tells whether an interleaved SCAN
    /// iteration is open, to continue it.
    fn op(&mut self, model: &Model, scan_open: bool) -> Op {
        match self.rng.index(1000) {
            0..=839 => self.command(model),
            840..=854 => Op::ScanAll {
                key: self.key(),
                options: self.scan_options(),
            },
            855..=919 => {
                // Drawn whether an iteration is open or not: when it ends
                // depends on the server's cursors (the module seeds each map's
                // hash at random), and the sequence must not.
                let key = self.key();
                // Small counts, so that writes come between the calls.
                let mut options = self.scan_options();
                if !self.rng.chance(3) {
                    options.count = Some(*self.rng.pick(&[1, 1, 2, 3]));
                }
                let start_another = self.rng.chance(40);
                if scan_open && !start_another {
                    Op::ScanContinue
                } else {
                    Op::ScanStart { key, options }
                }
            }
            920..=959 => {
                // Any well-formed command, against the string key. (Only
                // well-formed ones: the contract does not say whether WRONGTYPE
                // or a bad argument wins when both apply.)
                let mut args = self.command(model).args().unwrap();
                args[1] = STRING_KEY.to_vec();
                Op::Refused {
                    args,
                    error: WRONGTYPE.to_owned(),
                }
            }
            _ => self.bad_arguments(model),
        }
    }

    /// A well-formed command on one of the MultiMap keys.
    fn command(&mut self, model: &Model) -> Op {
        let key = self.key();
        let field = self.field();
        let len = model.values(&key, &field).len();
        match self.rng.index(100) {
            0..=21 => Op::Insert {
                values: self.values(model, &key, &field),
                key,
                field,
            },
            22..=31 => Op::Remove {
                values: self.values(model, &key, &field),
                key,
                field,
            },
            32..=38 => Op::Replace {
                values: self.values(model, &key, &field),
                key,
                field,
            },
            39..=43 => Op::Del {
                fields: (0..1 + self.rng.index(3)).map(|_| self.field()).collect(),
                key,
            },
            44..=49 => Op::Get { key, field },
            50..=52 => Op::Values { key, field },
            53..=57 => Op::Len { key, field },
            58..=69 => Op::Range {
                start: self.index(len),
                stop: self.index(len),
                key,
                field,
            },
            70..=75 => Op::Contains {
                value: self.value(model, &key, &field),
                key,
                field,
            },
            76..=80 => Op::Exists { key, field },
            81..=83 => Op::Card { key },
            84..=86 => Op::Size { key },
            87..=90 => Op::Fields { key },
            91..=94 => Op::GetAll { key },
            _ => Op::Scan {
                cursor: match self.rng.index(4) {
                    0 | 1 => 0,
                    2 => self.rng.index(1000) as u64,
                    _ if self.rng.chance(2) => u64::MAX,
                    _ => self.rng.next(),
                },
                options: self.scan_options(),
                key,
            },
        }
    }

    /// A command with one malformed argument or the wrong number of them.
    fn bad_arguments(&mut self, model: &Model) -> Op {
        let key = self.key();
        let refused = |args: Vec<&[u8]>, error: &str| Op::Refused {
            args: args.into_iter().map(<[u8]>::to_vec).collect(),
            error: error.to_owned(),
        };
        match self.rng.index(6) {
            0 => {
                let field = self.field();
                let good = self.index(model.values(&key, &field).len()).to_string();
                let bad = *self.rng.pick(&NOT_INTEGERS);
                let (start, stop) = if self.rng.chance(2) {
                    (bad, good.as_str())
                } else {
                    (good.as_str(), bad)
                };
                let args = vec![
                    &b"MULTIMAP.RANGE"[..],
                    &key,
                    &field,
                    start.as_bytes(),
                    stop.as_bytes(),
                ];
                refused(args, NOT_AN_INTEGER)
            }
            1 => {
                let cursor = *self.rng.pick(&MALFORMED_CURSORS);
                let mut args = scan_args(&key, cursor, &self.scan_options());
                args.truncate(if self.rng.chance(2) { 3 } else { args.len() });
                Op::Refused {
                    args,
                    error: INVALID_CURSOR.to_owned(),
                }
            }
            2 => {
                let count = self.rng.pick(&NOT_INTEGER_COUNTS);
                refused(
                    vec![b"MULTIMAP.SCAN", &key, b"0", b"COUNT", count.as_bytes()],
                    NOT_AN_INTEGER,
                )
            }
            3 => {
                let count = self.rng.pick(&COUNTS_BELOW_ONE);
                refused(
                    vec![b"MULTIMAP.SCAN", &key, b"0", b"COUNT", count.as_bytes()],
                    SYNTAX,
                )
            }
            4 => {
                let options = if self.rng.chance(2) {
                    self.rng.pick(&UNKNOWN_SCAN_OPTIONS)
                } else {
                    self.rng.pick(&SCAN_OPTIONS_MISSING_VALUE)
                };
                let mut args = vec![&b"MULTIMAP.SCAN"[..], &key, b"0"];
                args.extend(options.iter().map(|option| option.as_bytes()));
                refused(args, SYNTAX)
            }
            _ => {
                let command = self.rng.pick(&COMMANDS);
                // Redis 7 names the command in lower case in arity errors.
                let name = command.lower_name();
                let arity = command.min_words();
                // Too few arguments, or too many for a fixed arity.
                let argc = if command.fixed_arity() && self.rng.chance(2) {
                    arity + 1 + self.rng.index(3)
                } else {
                    1 + self.rng.index(arity - 1)
                };
                let mut args = vec![name.as_bytes().to_vec()];
                args.extend((1..argc).map(|i| if i == 1 { key.clone() } else { b"x".to_vec() }));
                Op::Refused {
                    args,
                    error: arity_error(&name),
                }
            }
        }
    }

    /// Whether a persistence event comes before the next operation: about
    /// 15 reloads, 5 rewrites and 5 restarts of each kind in 50,000 operations.
    fn event(&mut self) -> Option<Event> {
        match self.rng.index(10_000) {
            0..=2 => Some(Event::Reload),
            3 => Some(Event::RewriteAof),
            4 => Some(Event::RestartFromRdb),
            5 => Some(Event::RestartFromAof {
                rewrite: self.rng.chance(2),
            }),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- harness

/// A command sent in the current pipeline, with the reply it must get.
struct Queued {
    index: usize,
    op: Op,
    expect: Expect,
}

/// A SCAN iteration other operations interleave with. It must return every
/// field present (and matching) for its whole duration at least once, and
/// each field it returns with the values the field holds at that call.
struct OpenScan {
    key: Bytes,
    options: ScanOptions,
    cursor: String,
    calls: usize,
    returned: BTreeSet<Bytes>,
    /// Writes to the key since the first call.
    writes: usize,
    /// The fields present at every point since the first call.
    always_present: BTreeSet<Bytes>,
}

struct Harness {
    seed: Seed,
    generator: Generator,
    model: Model,
    /// None only while restarting.
    server: Option<Server>,
    con: Connection,
    queued: Vec<Queued>,
    open_scan: Option<OpenScan>,
    /// The field order FIELDS or GETALL last showed per key, which must not
    /// change while the key is unchanged.
    field_order: BTreeMap<Bytes, Vec<Bytes>>,
    /// The latest operations and events, by index.
    history: VecDeque<(usize, String)>,
    op_counts: BTreeMap<&'static str, usize>,
    /// Persistence events, and interleaved SCAN iterations, by kind.
    tallies: BTreeMap<String, usize>,
    /// Time spent in persistence events and the comparisons after them.
    event_time: Duration,
}

impl Harness {
    fn new(seed: Seed) -> Harness {
        let mut generator = Generator::new(seed.value());
        let server = start_server(&mut generator, None, true);
        let mut con = server.connect();
        let _: () = redis::cmd("SET")
            .arg(STRING_KEY)
            .arg(STRING_VALUE)
            .query(&mut con)
            .expect("SET");
        Harness {
            seed,
            generator,
            model: Model::default(),
            server: Some(server),
            con,
            queued: Vec::new(),
            open_scan: None,
            field_order: BTreeMap::new(),
            history: VecDeque::new(),
            op_counts: BTreeMap::new(),
            tallies: BTreeMap::new(),
            event_time: Duration::ZERO,
        }
    }

    fn step(&mut self, index: usize) {
        if let Some(event) = self.generator.event() {
            self.persist(index, event);
        }
        let op = self.generator.op(&self.model, self.open_scan.is_some());
        self.run(index, op);
    }

    /// Runs one operation against the model and (queued in the pipeline, or at
    /// once for SCAN iterations) against the server.
    fn run(&mut self, index: usize, op: Op) {
        *self.op_counts.entry(op.name()).or_default() += 1;
        self.remember(index, op.describe());
        let Some(expect) = self.model.apply(&op) else {
            self.flush();
            match op {
                Op::ScanAll { key, options } => self.scan_all(index, &key, &options),
                Op::ScanStart { key, options } => {
                    let always_present = self
                        .model
                        .fields(&key)
                        .map(|fields| fields.keys().cloned().collect())
                        .unwrap_or_default();
                    self.open_scan = Some(OpenScan {
                        key,
                        options,
                        cursor: "0".to_owned(),
                        calls: 0,
                        returned: BTreeSet::new(),
                        writes: 0,
                        always_present,
                    });
                    self.scan_step(index);
                }
                _ => self.scan_step(index),
            }
            return;
        };
        if let (Some(open), Some(key)) = (&mut self.open_scan, op.written_key()) {
            if open.key == key {
                open.writes += 1;
                let fields = self.model.fields(key);
                open.always_present
                    .retain(|field| fields.is_some_and(|fields| fields.contains_key(field)));
            }
        }
        self.queued.push(Queued { index, op, expect });
        if self.queued.len() >= BATCH {
            self.flush();
        }
    }

    /// Sends the queued commands in one pipeline and checks every reply.
    fn flush(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let queued = std::mem::take(&mut self.queued);
        let commands: Vec<Vec<Bytes>> = queued.iter().map(|q| q.op.args().unwrap()).collect();
        let replies = match self.send(&commands) {
            Ok(replies) => replies,
            Err(error) => self.fail(
                queued[0].index,
                &format!("a pipeline of {} commands starting here", queued.len()),
                &format!("the pipeline failed: {error}"),
            ),
        };
        for (queued, reply) in queued.iter().zip(&replies) {
            let checked = queued
                .expect
                .check(reply)
                .and_then(|()| self.check_field_order(&queued.op, reply));
            if let Err(detail) = checked {
                self.fail(queued.index, &queued.op.describe(), &detail);
            }
        }
    }

    /// FIELDS and GETALL list fields in the same order while the key is
    /// unchanged (any write to it, even one that changes nothing, resets this).
    fn check_field_order(&mut self, op: &Op, reply: &Value) -> Result<(), String> {
        if let Some(key) = op.written_key() {
            self.field_order.remove(key);
            return Ok(());
        }
        let (key, order) = match op {
            Op::Fields { key } => (key, bulk_strings(reply)?),
            Op::GetAll { key } => (
                key,
                field_pairs(reply)?.into_iter().map(|(f, _)| f).collect(),
            ),
            _ => return Ok(()),
        };
        match self.field_order.get(key) {
            Some(previous) if *previous != order => Err(format!(
                "field order changed while the key was unchanged: was {}, now {}",
                show_list(previous),
                show_list(&order)
            )),
            Some(_) => Ok(()),
            None => {
                self.field_order.insert(key.clone(), order);
                Ok(())
            }
        }
    }

    /// Sends commands in one pipeline; error replies come back as
    /// `Value::ServerError`, in place.
    fn send(&mut self, commands: &[Vec<Bytes>]) -> redis::RedisResult<Vec<Value>> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for args in commands {
            let mut command = redis::Cmd::new();
            for arg in args {
                command.arg(arg.as_slice());
            }
            pipe.add_command(command);
        }
        let replies: Vec<Value> = pipe.query(&mut self.con)?;
        assert_eq!(replies.len(), commands.len(), "one reply per command");
        Ok(replies)
    }

    /// One command outside any pipeline batch.
    fn send_one(&mut self, index: usize, args: Vec<Bytes>) -> Value {
        match self.send(std::slice::from_ref(&args)) {
            Ok(mut replies) => replies.pop().unwrap(),
            Err(error) => self.fail(index, &show_command(&args), &format!("no reply: {error}")),
        }
    }

    /// A whole SCAN iteration on a key nothing changes meanwhile: every
    /// matching field exactly once, with its values, and nothing else.
    fn scan_all(&mut self, index: usize, key: &[u8], options: &ScanOptions) {
        let expected = self.model.matching(key, options);
        let mut returned: BTreeMap<Bytes, usize> = BTreeMap::new();
        let mut cursor = "0".to_owned();
        for call in 0.. {
            let args = scan_args(key, &cursor, options);
            let reply = self.send_one(index, args.clone());
            let (next, items) = scan_reply_with_u64_cursor(&reply)
                .and_then(|(next, items)| {
                    check_scan_items(&items, &expected).map(|()| (next, items))
                })
                .unwrap_or_else(|detail| {
                    self.fail(
                        index,
                        &show_command(&args),
                        &format!("call {call}: {detail}"),
                    )
                });
            for (field, _) in items {
                *returned.entry(field).or_default() += 1;
            }
            if next == "0" {
                break;
            }
            if call == MAX_SCAN_CALLS {
                self.fail(index, &show_command(&args), "the iteration never ends");
            }
            cursor = next;
        }
        let twice: Vec<Bytes> = returned
            .iter()
            .filter(|(_, &n)| n > 1)
            .map(|(f, _)| f.clone())
            .collect();
        let missing: Vec<Bytes> = expected
            .keys()
            .filter(|f| !returned.contains_key(*f))
            .cloned()
            .collect();
        if !twice.is_empty() || !missing.is_empty() {
            let description = show_command(&scan_args(key, "0", options));
            self.fail(
                index,
                &format!("whole SCAN iteration: {description}"),
                &format!(
                    "on an unchanged key, fields returned more than once {}, never returned {}",
                    show_list(&twice),
                    show_list(&missing)
                ),
            );
        }
    }

    /// The next call of the open interleaved SCAN iteration.
    fn scan_step(&mut self, index: usize) {
        let mut open = self.open_scan.take().expect("an open SCAN iteration");
        let args = scan_args(&open.key, &open.cursor, &open.options);
        self.remember(
            index,
            format!("  call {}: {}", open.calls, show_command(&args)),
        );
        let reply = self.send_one(index, args.clone());
        let allowed = self.model.matching(&open.key, &open.options);
        let (next, items) = scan_reply_with_u64_cursor(&reply)
            .and_then(|(next, items)| check_scan_items(&items, &allowed).map(|()| (next, items)))
            .unwrap_or_else(|detail| self.fail(index, &show_command(&args), &detail));
        open.returned
            .extend(items.into_iter().map(|(field, _)| field));
        open.calls += 1;
        if next != "0" {
            if open.calls > MAX_SCAN_CALLS {
                self.fail(index, &show_command(&args), "the iteration never ends");
            }
            open.cursor = next;
            self.open_scan = Some(open);
            return;
        }
        let missed: Vec<Bytes> = open
            .always_present
            .iter()
            .filter(|field| open.options.matches(field) && !open.returned.contains(*field))
            .cloned()
            .collect();
        if !missed.is_empty() {
            self.fail(
                index,
                &show_command(&args),
                &format!(
                    "the iteration ended ({} calls, {} writes to the key meanwhile) without \
                     returning {}, present throughout",
                    open.calls,
                    open.writes,
                    show_list(&missed)
                ),
            );
        }
        let counts = &mut self.tallies;
        *counts
            .entry("interleaved SCAN iterations completed".to_owned())
            .or_default() += 1;
        *counts
            .entry("  with writes between their calls".to_owned())
            .or_default() += open.writes;
    }

    /// A persistence event: the server's digest must not change, and every
    /// key must then hold what the model holds.
    fn persist(&mut self, index: usize, event: Event) {
        self.flush();
        let started = Instant::now();
        *self.tallies.entry(format!("{event:?}")).or_default() += 1;
        self.remember(index, format!("[event] {event:?}"));
        // Cursors and field order need not survive a reload.
        self.open_scan = None;
        self.field_order.clear();
        let before = digest(&mut self.con);
        match event {
            Event::Reload => {
                let _: () = redis::cmd("DEBUG")
                    .arg("RELOAD")
                    .query(&mut self.con)
                    .unwrap_or_else(|error| self.fail(index, "DEBUG RELOAD", &error.to_string()));
            }
            Event::RewriteAof => self.rewrite_aof(index),
            Event::RestartFromRdb => {
                let _: () = redis::cmd("SAVE")
                    .query(&mut self.con)
                    .unwrap_or_else(|error| self.fail(index, "SAVE", &error.to_string()));
                self.restart(false);
                // Back to logging every write in a fresh AOF, for the next
                // AOF restart.
                let _: () = redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("appendonly")
                    .arg("yes")
                    .query(&mut self.con)
                    .unwrap_or_else(|error| {
                        self.fail(index, "CONFIG SET appendonly yes", &error.to_string())
                    });
                self.wait_for_aof_rewrite(index);
            }
            Event::RestartFromAof { rewrite } => {
                if rewrite {
                    self.rewrite_aof(index);
                }
                self.restart(true);
            }
        }
        let after = digest(&mut self.con);
        if before != after {
            self.fail(
                index,
                &format!("{event:?}"),
                &format!("DEBUG DIGEST changed from {before} to {after}"),
            );
        }
        self.compare_everything(index, event);
        self.event_time += started.elapsed();
    }

    /// Stops the server and starts another in the same directory, loading
    /// the AOF (`appendonly`) or else the RDB.
    fn restart(&mut self, appendonly: bool) {
        let dir = self.server.take().expect("a running server").stop();
        let server = start_server(&mut self.generator, Some(dir), appendonly);
        self.con = server.connect();
        self.server = Some(server);
    }

    fn rewrite_aof(&mut self, index: usize) {
        self.wait_for_aof_rewrite(index);
        let _: String = redis::cmd("BGREWRITEAOF")
            .query(&mut self.con)
            .unwrap_or_else(|error| self.fail(index, "BGREWRITEAOF", &error.to_string()));
        self.wait_for_aof_rewrite(index);
    }

    /// Waits until no AOF rewrite runs or waits to run, and checks the last
    /// one succeeded.
    fn wait_for_aof_rewrite(&mut self, index: usize) {
        wait_for_aof_rewrite(&mut self.con);
        let status = aof_rewrite_status(&mut self.con);
        if status.as_deref() != Some("ok") {
            self.fail(
                index,
                "BGREWRITEAOF",
                &format!("aof_last_bgrewrite_status: {status:?}"),
            );
        }
    }

    /// Every key on the server against the model: the same keys, each
    /// MultiMap with the same fields and values, the string untouched.
    fn compare_everything(&mut self, index: usize, event: Event) {
        let what = format!("full comparison after {event:?}");
        let mut commands = vec![vec![b"KEYS".to_vec(), b"*".to_vec()]];
        commands.push(vec![b"GET".to_vec(), STRING_KEY.to_vec()]);
        let mut expects = Vec::new();
        for (key, fields) in &self.model.keys {
            commands.push(vec![b"TYPE".to_vec(), key.clone()]);
            commands.push(vec![b"MULTIMAP.GETALL".to_vec(), key.clone()]);
            expects.push(Expect::Map(fields.clone()));
            commands.push(vec![b"MULTIMAP.CARD".to_vec(), key.clone()]);
            expects.push(Expect::Int(fields.len() as i64));
            commands.push(vec![b"MULTIMAP.SIZE".to_vec(), key.clone()]);
            expects.push(Expect::Int(
                fields.values().map(Vec::len).sum::<usize>() as i64
            ));
        }
        let replies = self
            .send(&commands)
            .unwrap_or_else(|error| self.fail(index, &what, &error.to_string()));

        let mut keys: Vec<Bytes> =
            bulk_strings(&replies[0]).unwrap_or_else(|e| self.fail(index, &what, &e));
        keys.sort();
        let mut expected_keys: Vec<Bytes> = self.model.keys.keys().cloned().collect();
        expected_keys.push(STRING_KEY.to_vec());
        expected_keys.sort();
        if keys != expected_keys {
            let detail = format!(
                "keys {}, expected {}",
                show_list(&keys),
                show_list(&expected_keys)
            );
            self.fail(index, &what, &detail);
        }
        if replies[1] != Value::BulkString(STRING_VALUE.to_vec()) {
            let detail = format!("the string key holds {}", show_reply(&replies[1]));
            self.fail(index, &what, &detail);
        }
        let keys: Vec<Bytes> = self.model.keys.keys().cloned().collect();
        for (i, key) in keys.iter().enumerate() {
            let replies = &replies[2 + 4 * i..2 + 4 * (i + 1)];
            let mut checked = match &replies[0] {
                Value::SimpleString(kind) if kind == "rmultimap" => Ok(()),
                other => Err(format!("TYPE is {}", show_reply(other))),
            };
            for (expect, reply) in expects[3 * i..3 * (i + 1)].iter().zip(&replies[1..]) {
                checked = checked.and_then(|()| expect.check(reply));
            }
            if let Err(detail) = checked {
                self.fail(index, &what, &format!("key {}: {detail}", show(key)));
            }
        }
    }

    fn remember(&mut self, index: usize, text: String) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((index, text));
    }

    /// Panics with everything needed to understand and replay the failure.
    fn fail(&mut self, index: usize, what: &str, detail: &str) -> ! {
        let mut server_state = String::new();
        if let Some(server) = &mut self.server {
            if !server.is_alive() {
                server_state = format!(
                    "\nthe server died; the end of its log:\n{}",
                    server.log_tail(30)
                );
            }
        }
        // Later operations may already be queued in the same pipeline.
        let history: Vec<String> = self
            .history
            .iter()
            .filter(|(at, _)| *at <= index)
            .map(|(at, text)| format!("#{at} {text}"))
            .collect();
        panic!(
            "{seed} op #{index}: {what}\n  {detail}\n\
             replay: {replay}\n\
             the latest operations up to this one:\n  {}{server_state}",
            history.join("\n  "),
            seed = self.seed,
            replay = self
                .seed
                .replay_with(&format!("MULTIMAP_OPS={}", index + 1)),
        );
    }
}

/// A server that logs every write to an AOF (fsynced on each write, as the
/// contract's strictest setting), with or without an RDB preamble in its
/// rewrites, chosen at random. `appendonly: false` makes it load the RDB.
fn start_server(generator: &mut Generator, dir: Option<TempDir>, appendonly: bool) -> Server {
    let mut builder = Server::builder().aof(generator.rng.chance(2));
    if !appendonly {
        // Loads the RDB rather than the AOF (CONFIG SET turns the AOF back on).
        builder = builder.config("appendonly", "no");
    }
    if let Some(dir) = dir {
        builder = builder.in_dir(dir);
    }
    builder.start()
}

#[test]
fn random_operations_match_an_in_memory_model() {
    let seed = seed();
    let ops = env_number("MULTIMAP_OPS").map_or(DEFAULT_OPS, |ops| ops as usize);
    eprintln!("differential: {seed} MULTIMAP_OPS={ops}");
    let started = Instant::now();

    let mut harness = Harness::new(seed);
    for index in 0..ops {
        harness.step(index);
    }
    // Whatever the random points were, end with every kind of event.
    for event in [
        Event::Reload,
        Event::RestartFromAof { rewrite: true },
        Event::RestartFromRdb,
        Event::RestartFromAof { rewrite: false },
    ] {
        harness.persist(ops, event);
    }

    let model = &harness.model;
    let fields: usize = model.keys.values().map(BTreeMap::len).sum();
    let values = model.keys.values().flat_map(BTreeMap::values);
    let value_bytes: usize = values.clone().flatten().map(Vec::len).sum();
    println!(
        "differential: {}: {ops} operations in {:.1?} ({:.1?} of it in persistence events)\n  \
         operations: {:?}\n  events: {:?}\n  \
         at the end: {} keys, {fields} fields, {} values, {value_bytes} value bytes",
        harness.seed,
        started.elapsed(),
        harness.event_time,
        harness.op_counts,
        harness.tallies,
        model.keys.len(),
        values.map(Vec::len).sum::<usize>(),
    );
}
