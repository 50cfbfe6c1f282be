//! Field expiry against the native hash-field expiry it mirrors, where the
//! server has it (Redis 7.4+, Valkey 9+): a seeded random sequence sends each
//! command to a hash and the same command to a MultiMap holding one value
//! per field, and compares the replies.
//!
//! | MULTIMAP | native |
//! |---|---|
//! | `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` | `HEXPIRE`, `HPEXPIRE`, `HEXPIREAT`, `HPEXPIREAT` |
//! | `TTL`, `PTTL`, `EXPIRETIME`, `PEXPIRETIME` | `HTTL`, `HPTTL`, `HEXPIRETIME`, `HPEXPIRETIME` |
//! | `PERSIST` | `HPERSIST` |
//! | `REPLACE key field v` | `HSET key field v` (both clear the field's expiry) |
//! | `DEL key field` | `HDEL key field` |
//!
//! Arguments are malformed now and then (times that are no integer,
//! negative, past 2^46 - 1 ms; two conditions or an unknown one; FIELDS
//! misplaced; numfields that is no positive integer or does not match; too
//! few arguments), on a hash/MultiMap pair, on a missing key and on a string
//! key both refuse, so which error wins is compared too. Error texts must be
//! the native ones with the command's name mapped (`'hpexpire'` to
//! `'multimap.pexpire'`). Valkey words and orders its errors differently
//! from Redis, and accepts some of what Redis refuses (times past 2^46 ms,
//! two conditions): there a model of Redis 8.2's argument rules ([`Rules`]),
//! which the Redis runs check against every native reply, says which error
//! MULTIMAP must reply, and a command it refuses goes to the MultiMap alone;
//! Valkey also rounds HTTL and HEXPIRETIME to the nearest second where Redis
//! (and MULTIMAP) round up ([`native_rounding`]).
//!
//! Times never come near the clock: relative ones are 1,000 s and more,
//! absolute ones at least 1,000 s from any relative one, so nothing expires
//! during a run, and the replies that depend on the clock (TTL, PTTL, and
//! EXPIRETIME/PEXPIRETIME after a relative time) are checked against the
//! window of clock readings around the commands: exact where the time is
//! known exactly. GT and LT never compare a relative time with an equal
//! relative one (which of two commands sent a millisecond apart wins would
//! be chance). HLEN is not compared with CARD: HLEN counts expired fields not
//! yet removed, CARD never does (none expire here anyway).
//!
//! `MULTIMAP_SEED` replays a run, `MULTIMAP_OPS` sets its length (default
//! 4,000 operations).

mod common;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::{Connection, Value};

use common::{
    arity_error, env_number, error_line, is_valkey, query, seed, show_command, show_reply,
    skip_unless, Bytes, Rng, Seed, Server, EXPIRE_TIME_NEGATIVE, FIELDS_MISSING, NOT_AN_INTEGER,
    NOT_INTEGERS, NUMFIELDS_MISMATCH, NUMFIELDS_NOT_ABOVE_ZERO, NUMFIELDS_NOT_POSITIVE, WRONGTYPE,
};

const DEFAULT_OPS: usize = 4_000;

/// The largest absolute expiry time, in ms: 2^46 - 1.
const MAX_EXPIRY_MS: i64 = (1 << 46) - 1;

/// Relative times in ms: far apart, so that GT and LT between a relative
/// and an absolute time never depend on the ms the command ran.
const RELATIVE_MS: [i64; 3] = [1_000_000, 3_000_000, 5_000_000];

/// Absolute times, ms after the run's start; an odd ms part, so that
/// EXPIRETIME's rounding shows. One repeats, so that GT and LT meet equal times.
const ABSOLUTE_OFFSETS_MS: [i64; 4] = [2_000_123, 4_000_457, 6_000_999, 2_000_123];

/// Field names: few, so that they repeat, binary ones among them.
const FIELD_NAMES: [&[u8]; 6] = [b"a", b"b", b"c", b"", b"\0\xff", b"long field name"];

fn now_ms() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    now.as_millis() as i64
}

// ---------------------------------------------------------------- commands

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    /// EXPIRE and its three siblings.
    Set {
        seconds: bool,
        absolute: bool,
    },
    /// TTL and its three siblings.
    Get {
        seconds: bool,
        absolute: bool,
    },
    Persist,
}

#[derive(Clone, Copy)]
struct Pair {
    ours: &'static str,
    native: &'static str,
    family: Family,
}

const fn set(ours: &'static str, native: &'static str, seconds: bool, absolute: bool) -> Pair {
    Pair {
        ours,
        native,
        family: Family::Set { seconds, absolute },
    }
}

const fn get(ours: &'static str, native: &'static str, seconds: bool, absolute: bool) -> Pair {
    Pair {
        ours,
        native,
        family: Family::Get { seconds, absolute },
    }
}

const PAIRS: [Pair; 9] = [
    set("MULTIMAP.EXPIRE", "HEXPIRE", true, false),
    set("MULTIMAP.PEXPIRE", "HPEXPIRE", false, false),
    set("MULTIMAP.EXPIREAT", "HEXPIREAT", true, true),
    set("MULTIMAP.PEXPIREAT", "HPEXPIREAT", false, true),
    get("MULTIMAP.TTL", "HTTL", true, false),
    get("MULTIMAP.PTTL", "HPTTL", false, false),
    get("MULTIMAP.EXPIRETIME", "HEXPIRETIME", true, true),
    get("MULTIMAP.PEXPIRETIME", "HPEXPIRETIME", false, true),
    Pair {
        ours: "MULTIMAP.PERSIST",
        native: "HPERSIST",
        family: Family::Persist,
    },
];

/// The native error text MULTIMAP must reply: the command's name mapped.
fn our_text(native: &str, pair: &Pair) -> String {
    native.replace(
        &format!("'{}'", pair.native.to_lowercase()),
        &format!("'{}'", pair.ours.to_lowercase()),
    )
}

// ---------------------------------------------------------------- Redis 8.2's argument rules

/// Redis's strict integer syntax (string2ll): an optional minus, no plus,
/// no leading zero, no space, within 64 bits.
fn parse_integer(word: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(word).ok()?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|byte| byte.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

/// Which error Redis 8.2 replies to a command line of a pair, in its order,
/// or None for a well-formed one; `now` is the clock in ms.
struct Rules;

impl Rules {
    fn error(pair: &Pair, line: &[Bytes], key_is_string: bool, now: i64) -> Option<String> {
        let argc = line.len();
        let min_argc = if matches!(pair.family, Family::Set { .. }) {
            6
        } else {
            5
        };
        if argc < min_argc {
            return Some(arity_error(&pair.ours.to_lowercase()));
        }
        if key_is_string {
            return Some(WRONGTYPE.to_owned());
        }
        let is = |word: &[u8], keyword: &str| word.eq_ignore_ascii_case(keyword.as_bytes());
        let (numfields_at, numfields_error) = match pair.family {
            Family::Set { seconds, absolute } => {
                let Some(mut time) = parse_integer(&line[2]) else {
                    return Some(NOT_AN_INTEGER.to_owned());
                };
                if time < 0 {
                    return Some(EXPIRE_TIME_NEGATIVE.to_owned());
                }
                let invalid = format!(
                    "ERR invalid expire time in '{}' command",
                    pair.ours.to_lowercase()
                );
                if seconds {
                    if time > MAX_EXPIRY_MS / 1000 {
                        return Some(invalid);
                    }
                    time *= 1000;
                }
                let base = if absolute { 0 } else { now };
                if time > MAX_EXPIRY_MS - base {
                    return Some(invalid);
                }
                let condition = ["NX", "XX", "GT", "LT"]
                    .iter()
                    .any(|condition| is(&line[3], condition));
                (if condition { 5 } else { 4 }, NUMFIELDS_NOT_ABOVE_ZERO)
            }
            Family::Get { .. } | Family::Persist => (3, NUMFIELDS_NOT_POSITIVE),
        };
        if !is(&line[numfields_at - 1], "FIELDS") {
            return Some(FIELDS_MISSING.to_owned());
        }
        match parse_integer(&line[numfields_at]) {
            Some(numfields) if numfields >= 1 => {
                if numfields as usize != argc - numfields_at - 1 {
                    Some(NUMFIELDS_MISMATCH.to_owned())
                } else {
                    None
                }
            }
            _ => Some(numfields_error.to_owned()),
        }
    }
}

// ---------------------------------------------------------------- the model

/// A field's expiry: the absolute ms time lies in `lo..=hi` (one value when
/// it was given absolute); `relative` is the duration a relative command
/// gave, which GT and LT must not meet again.
#[derive(Clone, Copy, Debug)]
struct Expiry {
    lo: i64,
    hi: i64,
    relative: Option<i64>,
}

/// Each key's fields and their expiries, learnt from the replies (which are
/// the native ones).
type Model = BTreeMap<usize, BTreeMap<Bytes, Option<Expiry>>>;

/// The keys: two pairs (0 and 1), one pair never written, and a string key.
const NEVER_WRITTEN: usize = 2;
const STRING_KEY: usize = 3;

fn hash_key(key: usize) -> Bytes {
    match key {
        STRING_KEY => b"string".to_vec(),
        key => format!("hash:{key}").into_bytes(),
    }
}

fn multimap_key(key: usize) -> Bytes {
    match key {
        STRING_KEY => b"string".to_vec(),
        key => format!("mm:{key}").into_bytes(),
    }
}

// ---------------------------------------------------------------- operations

enum Op {
    /// HSET / REPLACE of one field.
    Write {
        key: usize,
        field: Bytes,
    },
    /// HDEL / DEL of one field.
    Delete {
        key: usize,
        field: Bytes,
    },
    /// One of the nine pairs: the line after the name, the key first; the
    /// time a Set command gives, as (relative duration in ms, or absolute ms).
    Expiry {
        pair: Pair,
        key: usize,
        args: Vec<Bytes>,
        fields: Vec<Bytes>,
        time: Option<SetTime>,
    },
    Reload,
}

#[derive(Clone, Copy, Debug)]
enum SetTime {
    Relative(i64),
    Absolute(i64),
}

struct Generator {
    rng: Rng,
    /// The clock at the start of the run, in ms.
    base: i64,
}

impl Generator {
    fn field(&mut self) -> Bytes {
        self.rng.pick(&FIELD_NAMES).to_vec()
    }

    fn key(&mut self) -> usize {
        match self.rng.below(20) {
            0 => NEVER_WRITTEN,
            1 => STRING_KEY,
            roll => (roll % 2) as usize,
        }
    }

    fn next(&mut self, model: &Model) -> Op {
        match self.rng.below(100) {
            0..=14 => Op::Write {
                key: self.rng.index(2),
                field: self.field(),
            },
            15..=19 => Op::Delete {
                key: self.rng.index(2),
                field: self.field(),
            },
            20 if self.rng.chance(10) => Op::Reload,
            20..=59 => self.set_command(model),
            60..=89 => {
                let pair = PAIRS[4 + self.rng.index(4)];
                self.fields_command(pair)
            }
            _ => self.fields_command(PAIRS[8]),
        }
    }

    fn with_random_case(&mut self, word: &str) -> Bytes {
        word.bytes()
            .map(|byte| {
                if self.rng.chance(2) {
                    byte.to_ascii_lowercase()
                } else {
                    byte
                }
            })
            .collect()
    }

    /// `FIELDS numfields field...`, now and then malformed.
    fn fields_part(&mut self, args: &mut Vec<Bytes>) -> Vec<Bytes> {
        let count = 1 + self.rng.index(4);
        let fields: Vec<Bytes> = (0..count).map(|_| self.field()).collect();
        args.push(if self.rng.chance(30) {
            self.rng.pick(&[&b"FIELD"[..], b"F", b"1", b"NX"]).to_vec()
        } else {
            self.with_random_case("FIELDS")
        });
        args.push(if self.rng.chance(8) {
            let wrong = [
                (count + 1).to_string(),
                (count - 1).to_string(),
                "0".to_owned(),
                "-1".to_owned(),
                "x".to_owned(),
                format!("0{count}"),
                "99999999999999999999".to_owned(),
            ];
            self.rng.pick(&wrong).clone().into_bytes()
        } else {
            count.to_string().into_bytes()
        });
        let given = if self.rng.chance(40) {
            count - 1
        } else {
            count
        };
        args.extend(fields[..given].iter().cloned());
        fields[..given].to_vec()
    }

    /// A TTL-family command or PERSIST.
    fn fields_command(&mut self, pair: Pair) -> Op {
        let key = self.key();
        self.with_fields_part(pair, key, vec![hash_key(key)], None)
    }

    /// The operation `args` (the key and what comes before FIELDS) make
    /// once a FIELDS part ends them.
    fn with_fields_part(
        &mut self,
        pair: Pair,
        key: usize,
        mut args: Vec<Bytes>,
        time: Option<SetTime>,
    ) -> Op {
        let fields = self.fields_part(&mut args);
        Op::Expiry {
            pair,
            key,
            args,
            fields,
            time,
        }
    }

    /// An EXPIRE-family command: its time, optional condition, fields.
    fn set_command(&mut self, model: &Model) -> Op {
        let pair = PAIRS[self.rng.index(4)];
        let Family::Set { seconds, absolute } = pair.family else {
            unreachable!("the first four pairs set expiries");
        };
        let key = self.key();
        let unit = if seconds { 1000 } else { 1 };
        let condition: Option<Bytes> = match self.rng.below(20) {
            0..=9 => None,
            10 => Some(self.rng.pick(&[&b"FOO"[..], b"NXX", b"FIELDS"]).to_vec()),
            _ => {
                let word = *self.rng.pick(&["NX", "XX", "GT", "LT"]);
                Some(self.with_random_case(word))
            }
        };
        let compares = condition.as_ref().is_some_and(|word| {
            word.eq_ignore_ascii_case(b"GT") || word.eq_ignore_ascii_case(b"LT")
        });
        let (word, time) = match self.rng.below(100) {
            0..=74 if absolute => {
                let at = if self.rng.chance(15) {
                    MAX_EXPIRY_MS / unit * unit
                } else {
                    let offset = self.rng.pick(&ABSOLUTE_OFFSETS_MS);
                    (self.base + offset) / unit * unit
                };
                (at / unit, Some(SetTime::Absolute(at)))
            }
            0..=74 => {
                let taken: Vec<i64> = model
                    .get(&key)
                    .into_iter()
                    .flat_map(|fields| fields.values())
                    .filter_map(|expiry| expiry.and_then(|expiry| expiry.relative))
                    .collect();
                let free: Vec<i64> = RELATIVE_MS
                    .into_iter()
                    .filter(|ms| !compares || !taken.contains(ms))
                    .collect();
                if free.is_empty() {
                    // Every duration is taken: fall back to the past.
                    (0, Some(SetTime::Relative(0)))
                } else {
                    let ms = *self.rng.pick(&free);
                    (ms / unit, Some(SetTime::Relative(ms)))
                }
            }
            75..=84 => {
                let past = if absolute {
                    *self.rng.pick(&[0, 1, (self.base - 60_000) / unit])
                } else {
                    0
                };
                let time = if absolute {
                    SetTime::Absolute(past * unit)
                } else {
                    SetTime::Relative(0)
                };
                (past, Some(time))
            }
            85..=87 => (*self.rng.pick(&[-1, i64::MIN]), None),
            88..=92 => {
                let too_far = match (seconds, absolute) {
                    (true, false) => MAX_EXPIRY_MS / 1000,
                    (true, true) => MAX_EXPIRY_MS / 1000 + 1,
                    (false, false) => MAX_EXPIRY_MS,
                    (false, true) => MAX_EXPIRY_MS + 1,
                };
                (*self.rng.pick(&[too_far, i64::MAX]), None)
            }
            _ => {
                let words: Vec<&str> = NOT_INTEGERS
                    .into_iter()
                    .chain(["007", "-0", "+1"])
                    .collect();
                let word = self.rng.pick(&words).as_bytes().to_vec();
                let mut args = vec![hash_key(key), word];
                args.extend(condition);
                return self.with_fields_part(pair, key, args, None);
            }
        };
        let mut args = vec![hash_key(key), word.to_string().into_bytes()];
        if self.rng.chance(40) {
            // Two conditions: the second is where FIELDS must be.
            args.push(b"NX".to_vec());
        }
        args.extend(condition);
        self.with_fields_part(pair, key, args, time)
    }
}

// ---------------------------------------------------------------- harness

struct Harness {
    con: Connection,
    seed: Seed,
    model: Model,
    tallies: BTreeMap<String, usize>,
    /// Replies whose native one was an error, per text.
    errors: BTreeMap<String, usize>,
}

fn send(con: &mut Connection, lines: &[Vec<Bytes>]) -> Vec<Value> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for line in lines {
        let mut command = redis::Cmd::new();
        for arg in line {
            command.arg(arg.as_slice());
        }
        pipe.add_command(command);
    }
    pipe.query(con).expect("a pipeline")
}

fn integers(reply: &Value) -> Option<Vec<i64>> {
    redis::from_redis_value_ref(reply).ok()
}

/// Seconds from ms as Redis's TTL family rounds them, and so MULTIMAP's: up.
fn rounded_up(ms: i64) -> i64 {
    (ms + 999).div_euclid(1000)
}

/// Seconds from ms as the native TTL family rounds them: Valkey rounds
/// HTTL and HEXPIRETIME to the nearest second (as TTL of keys), so that a
/// field expiring at 12.4 s has HEXPIRETIME 12 there, 13 on Redis.
fn native_rounding() -> fn(i64) -> i64 {
    if is_valkey() {
        |ms| (ms + 500).div_euclid(1000)
    } else {
        rounded_up
    }
}

impl Harness {
    fn fail(&self, index: usize, what: &str, detail: &str) -> ! {
        panic!(
            "operation {index}: {what}: {detail}\n({}; replay: {})",
            self.seed,
            self.seed.replay()
        );
    }

    fn step(&mut self, index: usize, op: Op) {
        match op {
            Op::Write { key, field } => {
                let lines = [
                    vec![
                        b"HSET".to_vec(),
                        hash_key(key),
                        field.clone(),
                        b"v".to_vec(),
                    ],
                    vec![
                        b"MULTIMAP.REPLACE".to_vec(),
                        multimap_key(key),
                        field.clone(),
                        b"v".to_vec(),
                    ],
                ];
                let replies = send(&mut self.con, &lines);
                if replies[1] != Value::Int(1) || error_line(&replies[0]).is_some() {
                    self.fail(index, &show_command(&lines[1]), &format!("{replies:?}"));
                }
                self.model.entry(key).or_default().insert(field, None);
                self.tally("HSET/REPLACE");
            }
            Op::Delete { key, field } => {
                let lines = [
                    vec![b"HDEL".to_vec(), hash_key(key), field.clone()],
                    vec![b"MULTIMAP.DEL".to_vec(), multimap_key(key), field.clone()],
                ];
                let replies = send(&mut self.con, &lines);
                if replies[0] != replies[1] {
                    self.fail(index, &show_command(&lines[1]), &format!("{replies:?}"));
                }
                self.forget(key, &field);
                self.tally("HDEL/DEL");
            }
            Op::Reload => {
                query::<Value>(&mut self.con, &["DEBUG", "RELOAD"]);
                self.tally("DEBUG RELOAD");
            }
            Op::Expiry {
                pair,
                key,
                args,
                fields,
                time,
            } => self.expiry(index, pair, key, args, fields, time),
        }
        self.compare_fields(index);
    }

    fn refused(&mut self, index: usize, what: &str, pair: &Pair, reply: &Value, expected: String) {
        self.tally(&format!("{} refused", pair.ours));
        if error_line(reply).as_deref() != Some(expected.as_str()) {
            self.fail(
                index,
                what,
                &format!("replied {}, expected {expected:?}", show_reply(reply)),
            );
        }
        *self.errors.entry(expected).or_default() += 1;
    }

    fn tally(&mut self, kind: &str) {
        *self.tallies.entry(kind.to_owned()).or_default() += 1;
    }

    fn forget(&mut self, key: usize, field: &[u8]) {
        if let Some(fields) = self.model.get_mut(&key) {
            fields.remove(field);
            if fields.is_empty() {
                self.model.remove(&key);
            }
        }
    }

    fn expiry(
        &mut self,
        index: usize,
        pair: Pair,
        key: usize,
        args: Vec<Bytes>,
        fields: Vec<Bytes>,
        time: Option<SetTime>,
    ) {
        let mut native = vec![pair.native.as_bytes().to_vec()];
        native.extend(args.iter().cloned());
        let mut ours = vec![pair.ours.as_bytes().to_vec(), multimap_key(key)];
        ours.extend(args[1..].iter().cloned());
        let what = format!("{} (native {})", show_command(&ours), show_command(&native));
        let rule = Rules::error(&pair, &native, key == STRING_KEY, now_ms());
        if is_valkey() {
            if let Some(expected) = rule {
                // Valkey may accept what Redis refuses (a time past 2^46 ms,
                // two conditions): the hash must not change where ours cannot.
                let reply = send(&mut self.con, &[ours]).remove(0);
                self.refused(index, &what, &pair, &reply, expected);
                return;
            }
        }
        let before = now_ms();
        let replies = send(&mut self.con, &[native, ours]);
        let after = now_ms();
        let (native_reply, our_reply) = (&replies[0], &replies[1]);
        if !is_valkey() {
            // The model of the rules must be Redis's.
            let native_error = error_line(native_reply).map(|text| our_text(&text, &pair));
            if native_error != rule {
                self.fail(
                    index,
                    &what,
                    &format!(
                        "the model of Redis's argument rules says {rule:?}, the native replied {}",
                        show_reply(native_reply)
                    ),
                );
            }
            if let Some(expected) = rule {
                self.refused(index, &what, &pair, our_reply, expected);
                return;
            }
        }
        self.tally(pair.ours);
        let (Some(native_codes), Some(our_codes)) = (integers(native_reply), integers(our_reply))
        else {
            self.fail(
                index,
                &what,
                &format!(
                    "replied {}, the native {}",
                    show_reply(our_reply),
                    show_reply(native_reply)
                ),
            );
        };
        if our_codes.len() != fields.len() || native_codes.len() != fields.len() {
            self.fail(
                index,
                &what,
                &format!("{our_codes:?} against {native_codes:?}"),
            );
        }
        match pair.family {
            Family::Set { .. } => {
                if our_codes != native_codes {
                    self.fail(
                        index,
                        &what,
                        &format!("replied {our_codes:?}, the native {native_codes:?}"),
                    );
                }
                let expiry = match time.expect("a well-formed set command has a time") {
                    SetTime::Absolute(at) => Expiry {
                        lo: at,
                        hi: at,
                        relative: None,
                    },
                    SetTime::Relative(ms) => Expiry {
                        lo: before + ms,
                        hi: after + ms,
                        relative: Some(ms),
                    },
                };
                for (field, code) in fields.iter().zip(&our_codes) {
                    match code {
                        1 => {
                            self.model
                                .entry(key)
                                .or_default()
                                .insert(field.clone(), Some(expiry));
                        }
                        2 => self.forget(key, field),
                        _ => {}
                    }
                }
            }
            Family::Persist => {
                if our_codes != native_codes {
                    self.fail(
                        index,
                        &what,
                        &format!("replied {our_codes:?}, the native {native_codes:?}"),
                    );
                }
                for (field, code) in fields.iter().zip(&our_codes) {
                    if *code == 1 {
                        self.model
                            .entry(key)
                            .or_default()
                            .insert(field.clone(), None);
                    }
                }
            }
            Family::Get { seconds, absolute } => {
                for (field, (ours, native)) in
                    fields.iter().zip(our_codes.iter().zip(&native_codes))
                {
                    let expiry = self
                        .model
                        .get(&key)
                        .and_then(|fields| fields.get(field))
                        .copied();
                    let range = |round: fn(i64) -> i64| match expiry {
                        None => -2..=-2,
                        Some(None) => -1..=-1,
                        Some(Some(Expiry { lo, hi, .. })) => {
                            let (lo, hi) = if absolute {
                                (lo, hi)
                            } else {
                                (lo - after, hi - before)
                            };
                            if seconds {
                                round(lo)..=round(hi)
                            } else {
                                lo..=hi
                            }
                        }
                    };
                    let field = show_command(std::slice::from_ref(field));
                    let native_range = range(native_rounding());
                    if !native_range.contains(native) {
                        self.fail(
                            index,
                            &what,
                            &format!(
                                "the native replied {native} for {field}, outside the model's {native_range:?}"
                            ),
                        );
                    }
                    let our_range = range(rounded_up);
                    if !our_range.contains(ours) {
                        self.fail(
                            index,
                            &what,
                            &format!(
                                "replied {ours} for {field}, expected {our_range:?} (the native {native})"
                            ),
                        );
                    }
                }
            }
        }
    }

    /// Both sides hold the same fields, and a key exactly when its pair does.
    fn compare_fields(&mut self, index: usize) {
        let mut lines = Vec::new();
        for key in 0..NEVER_WRITTEN + 1 {
            lines.push(vec![b"HKEYS".to_vec(), hash_key(key)]);
            lines.push(vec![b"MULTIMAP.FIELDS".to_vec(), multimap_key(key)]);
            lines.push(vec![b"EXISTS".to_vec(), hash_key(key)]);
            lines.push(vec![b"EXISTS".to_vec(), multimap_key(key)]);
        }
        let replies = send(&mut self.con, &lines);
        for (key, replies) in replies.chunks(4).enumerate() {
            let names = |reply: &Value| -> Vec<Bytes> {
                let mut names: Vec<Bytes> =
                    redis::from_redis_value_ref(reply).expect("field names");
                names.sort();
                names
            };
            let (native, ours) = (names(&replies[0]), names(&replies[1]));
            let modelled: Vec<Bytes> = self
                .model
                .get(&key)
                .map(|fields| fields.keys().cloned().collect())
                .unwrap_or_default();
            if ours != native || native != modelled || replies[2] != replies[3] {
                self.fail(
                    index,
                    &format!("after it, key {key}"),
                    &format!(
                        "fields {ours:?}, the native {native:?}, the model {modelled:?}; EXISTS {:?} against {:?}",
                        replies[3], replies[2]
                    ),
                );
            }
        }
    }
}

#[test]
fn random_expiry_commands_reply_as_native_hash_field_expiry() {
    let server = Server::start();
    let mut con = server.connect();
    let hexpire: Value = query(&mut con, ("COMMAND", "INFO", "HEXPIRE"));
    let native = matches!(&hexpire, Value::Array(entries) if entries.first().is_some_and(|entry| *entry != Value::Nil));
    if skip_unless(
        native,
        "hash-field expiry (HEXPIRE) came with Redis 7.4 and Valkey 9.0",
    ) {
        return;
    }
    let seed = seed();
    let ops = env_number("MULTIMAP_OPS").map_or(DEFAULT_OPS, |ops| ops as usize);
    let mut generator = Generator {
        rng: seed.rng(),
        base: now_ms(),
    };
    let mut harness = Harness {
        con,
        seed,
        model: Model::new(),
        tallies: BTreeMap::new(),
        errors: BTreeMap::new(),
    };
    query::<Value>(&mut harness.con, ("SET", "string", "text"));
    for index in 0..ops {
        let op = generator.next(&harness.model);
        harness.step(index, op);
    }
    eprintln!(
        "{}: {ops} operations {:?}; errors: {:?}",
        harness.seed, harness.tallies, harness.errors
    );
    if ops >= 1000 {
        for expected in [
            WRONGTYPE,
            NOT_AN_INTEGER,
            EXPIRE_TIME_NEGATIVE,
            FIELDS_MISSING,
            NUMFIELDS_MISMATCH,
            NUMFIELDS_NOT_ABOVE_ZERO,
            NUMFIELDS_NOT_POSITIVE,
        ] {
            assert!(
                harness.errors.contains_key(expected),
                "no command met {expected:?} ({})",
                harness.seed
            );
        }
    }
}
