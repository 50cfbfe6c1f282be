//! Fields as lists, against the native lists they mirror: a seeded random
//! sequence runs each operation on a MultiMap field and the same operation on
//! a native list of the same server, and every reply must be the native one
//! (values, integers, nil against empty array, error texts), Redis 7.0's
//! texts where a newer server words an error differently ([`TEXT_DIFFERENCES`]):
//!
//! | MULTIMAP | native |
//! |---|---|
//! | `PREPEND key field v1 .. vn` | `LPUSH list vn .. v1` |
//! | `INSERT` | `RPUSH` |
//! | `POP key field LEFT\|RIGHT [COUNT n]` | `LPOP\|RPOP list [n]` |
//! | `INDEX`, `SET`, `TRIM`, `RANGE`, `LEN` | `LINDEX`, `LSET` (index past 32 bits: see [`lset_index`]), `LTRIM`, `LRANGE`, `LLEN` |
//! | `POS` with any options | `LPOS` with the same |
//! | `REMOVE key field v` | `LREM list 0 v` |
//! | `ADD` | none: checked against the list's content, then `RPUSH` of what it added |
//!
//! Three targets: a field beside another field (`mm` `f`, with `mm` `other`
//! never written, whose content is checked; it comes and goes, so that the
//! field emptying sometimes empties the key), a field alone in its key
//! (`mm2` `f`, against `list2`: the key must exist exactly when the list
//! does), and a string key both refuse with WRONGTYPE. Values are binary
//! (empty, NUL, 0xff, 300 bytes), indexes in range, out of it and extreme,
//! and arguments malformed now and then (non-integers, negative counts, RANK
//! 0, unknown options, options missing their value) on every target, so the
//! order in which errors win is compared too. POP's syntax errors have no
//! native shape (LPOP's count is positional) and are checked against the
//! contract's texts.
//!
//! Now and then the fields are saved and loaded back (`DEBUG RELOAD`, or
//! DUMP and RESTORE) and must hold the same. Runs under RESP2 and RESP3. `MULTIMAP_SEED` replays a run,
//! `MULTIMAP_OPS` sets its length (default 6,000 operations per protocol).

mod common;

use std::collections::BTreeMap;

use redis::{Connection, Value};

use common::{
    env_number, error_line, seed, server_identity, server_version, show_command, show_list,
    show_reply, Bytes, Rng, Seed, Server, Wire, NOT_INTEGERS, RANK_ZERO, SYNTAX, WRONGTYPE,
};

const DEFAULT_OPS: usize = 6_000;

/// Pairs of commands sent per pipeline.
const BATCH: usize = 32;

/// A MultiMap field and the native list it must match.
struct Target {
    list: &'static [u8],
    key: &'static [u8],
    field: &'static [u8],
}

const BESIDE_OTHER: Target = Target {
    list: b"list",
    key: b"mm",
    field: b"f",
};
const ALONE: Target = Target {
    list: b"list2",
    key: b"mm2",
    field: b"f\0\xff",
};
/// A string key, for both sides.
const STRING: Target = Target {
    list: b"string",
    key: b"string",
    field: b"f",
};

/// The field of `mm` no operation writes.
const OTHER_FIELD: &[u8] = b"other";
const OTHER_VALUES: [&[u8]; 3] = [b"o1", b"", b"\0o"];

/// Few enough that they repeat, so POS, REMOVE and ADD find them.
const VALUES: [&[u8]; 8] = [
    b"",
    b"\0",
    b"\xff",
    b"a",
    b"b",
    b"a\0b",
    b"\xff\xfe\0",
    b"\r\n",
];

/// A native error text that differs from Redis 7.0's, which MULTIMAP keeps.
struct TextDifference {
    /// The servers that word it so.
    servers: &'static str,
    applies: fn() -> bool,
    native: &'static str,
    ours: &'static str,
}

/// Every native error text of the commands compared here that differs from
/// Redis 7.0's on one of the six servers. Two native replies differ in kind,
/// not in words: LPOS `RANK -9223372036854775808` (see
/// [`Generator::pos_rank_min`]) and LSET past 32 bits (see [`lset_index`]);
/// BPOP's timeout texts are in tests/blocking.rs.
const TEXT_DIFFERENCES: [TextDifference; 1] = [TextDifference {
    servers: "Redis 6.2",
    applies: || server_version() < (7, 0),
    native: "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second, ...",
    ours: RANK_ZERO,
}];

/// The text MULTIMAP must reply where the native command replied `native`.
fn our_text(native: &str) -> String {
    match TEXT_DIFFERENCES.iter().find(|diff| diff.native == native) {
        Some(diff) => {
            assert!(
                (diff.applies)(),
                "{native:?} is known only from {}, not from {} {}",
                diff.servers,
                server_identity().product,
                server_identity().version_text
            );
            diff.ours.to_owned()
        }
        None => native.to_owned(),
    }
}

/// The index to give LSET for the one MULTIMAP.SET is given. Redis 7.2+ and
/// Valkey cut LSET's index to 32 bits on a small (listpack) list, so that
/// `LSET list 4294967296 x` sets the first value where Redis 7.0 (and
/// MULTIMAP.SET) reply `ERR index out of range`; no list here comes near
/// 2^31 values, so an index past 32 bits is sent as the 32-bit index of the
/// same sign, which every server refuses alike.
fn lset_index(index: &[u8]) -> Bytes {
    let parsed = std::str::from_utf8(index)
        .ok()
        .and_then(|text| text.parse::<i64>().ok());
    match parsed {
        Some(index) if index > i64::from(i32::MAX) => i32::MAX.to_string().into_bytes(),
        Some(index) if index < -i64::from(i32::MAX) => (-i32::MAX).to_string().into_bytes(),
        _ => index.to_vec(),
    }
}

// ---------------------------------------------------------------- operations

/// How the reply of our command is checked.
enum Check {
    /// Exactly the native command's reply.
    Native(Vec<Bytes>),
    /// A reply of the contract's where no native command has this shape.
    Error(&'static str),
    /// MULTIMAP.ADD of these values: checked against the list's content.
    Add(Vec<Bytes>),
}

struct Op {
    target: &'static Target,
    /// `MULTIMAP.<name>` on the target's key and field.
    ours: Vec<Bytes>,
    check: Check,
    /// For the tallies.
    kind: &'static str,
}

fn line(parts: &[&[u8]], rest: &[Bytes]) -> Vec<Bytes> {
    let mut line: Vec<Bytes> = parts.iter().map(|part| part.to_vec()).collect();
    line.extend(rest.iter().cloned());
    line
}

/// What the generator knows of a target: its content at the last check.
#[derive(Default, Clone)]
struct Seen {
    values: Vec<Bytes>,
}

struct Generator {
    rng: Rng,
    /// Two 300-byte values differing in their last byte.
    large: [Bytes; 2],
}

impl Generator {
    fn new(seed: u64) -> Generator {
        let mut large = Rng(300).bytes(300);
        let first = large.clone();
        *large.last_mut().unwrap() ^= 1;
        Generator {
            rng: Rng(seed),
            large: [first, large],
        }
    }

    fn value(&mut self, seen: &Seen) -> Bytes {
        if self.rng.chance(40) {
            return self.rng.pick(&self.large).clone();
        }
        if !seen.values.is_empty() && self.rng.chance(3) {
            return self.rng.pick(&seen.values).clone();
        }
        self.rng.pick(&VALUES).to_vec()
    }

    /// Mostly a few values, sometimes dozens, rarely hundreds, so that lists
    /// grow long enough for walks from either end to matter.
    fn values(&mut self, seen: &Seen) -> Vec<Bytes> {
        let n = match self.rng.index(100) {
            0 => 100 + self.rng.index(200),
            1..=4 => 10 + self.rng.index(40),
            _ => 1 + self.rng.index(4),
        };
        (0..n).map(|_| self.value(seen)).collect()
    }

    /// An index around the length, in range or just out, now and then an extreme.
    fn index(&mut self, len: usize) -> i64 {
        let len = len as i64;
        match self.rng.index(14) {
            0 => *self
                .rng
                .pick(&[i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1, -1, 0]),
            1 => self.rng.next() as i64,
            _ => self.rng.index(2 * len as usize + 7) as i64 - (len + 3),
        }
    }

    /// An integer argument, malformed once in a while.
    fn integer_arg(&mut self, len: usize) -> Bytes {
        if self.rng.chance(15) {
            self.rng.pick(&NOT_INTEGERS).as_bytes().to_vec()
        } else {
            self.index(len).to_string().into_bytes()
        }
    }

    /// A count for POP/LPOP: mostly small, sometimes bad.
    fn count_arg(&mut self, len: usize) -> Bytes {
        match self.rng.index(12) {
            0 => self
                .rng
                .pick(&["-1", "-9223372036854775808", "abc", "1.5", ""])
                .as_bytes()
                .to_vec(),
            1 => b"9223372036854775807".to_vec(),
            2 => b"0".to_vec(),
            _ => (1 + self.rng.index(len + 3)).to_string().into_bytes(),
        }
    }

    fn direction(&mut self) -> (&'static [u8], bool) {
        let left = self.rng.chance(2);
        let spelled: &[&[u8]] = if left {
            &[b"LEFT", b"left", b"Left"]
        } else {
            &[b"RIGHT", b"right", b"rIGHT"]
        };
        (*self.rng.pick(spelled), left)
    }

    fn op(&mut self, seen: &BTreeMap<&'static [u8], Seen>) -> Op {
        let target = match self.rng.index(20) {
            0..=11 => &BESIDE_OTHER,
            12..=18 => &ALONE,
            _ => &STRING,
        };
        let seen = seen.get(target.list).cloned().unwrap_or_default();
        let len = seen.values.len();
        let (list, key, field) = (target.list, target.key, target.field);
        let native = |parts: &[&[u8]], rest: &[Bytes]| Check::Native(line(parts, rest));
        let op = |ours: Vec<Bytes>, check: Check, kind: &'static str| Op {
            target,
            ours,
            check,
            kind,
        };
        match self.rng.index(100) {
            0..=11 => {
                let values = self.values(&seen);
                op(
                    line(&[b"MULTIMAP.INSERT", key, field], &values),
                    native(&[b"RPUSH", list], &values),
                    "INSERT",
                )
            }
            12..=23 => {
                let values = self.values(&seen);
                let reversed: Vec<Bytes> = values.iter().rev().cloned().collect();
                op(
                    line(&[b"MULTIMAP.PREPEND", key, field], &values),
                    native(&[b"LPUSH", list], &reversed),
                    "PREPEND",
                )
            }
            24..=29 => {
                let values = self.values(&seen);
                op(
                    line(&[b"MULTIMAP.ADD", key, field], &values),
                    Check::Add(values),
                    "ADD",
                )
            }
            30..=43 => self.pop(target, len),
            44..=52 => {
                let index = self.integer_arg(len);
                op(
                    line(&[b"MULTIMAP.INDEX", key, field, &index], &[]),
                    native(&[b"LINDEX", list, &index], &[]),
                    "INDEX",
                )
            }
            53..=60 => {
                let index = self.integer_arg(len);
                let value = self.value(&seen);
                op(
                    line(&[b"MULTIMAP.SET", key, field, &index, &value], &[]),
                    native(&[b"LSET", list, &lset_index(&index), &value], &[]),
                    "SET",
                )
            }
            61..=65 => {
                // Mostly trims that keep most of the list, or lists drain.
                let (start, stop) = if self.rng.chance(3) {
                    (self.integer_arg(len), self.integer_arg(len))
                } else {
                    let cut = self.rng.index(3);
                    (
                        cut.to_string().into_bytes(),
                        (-1 - self.rng.index(3) as i64).to_string().into_bytes(),
                    )
                };
                op(
                    line(&[b"MULTIMAP.TRIM", key, field, &start, &stop], &[]),
                    native(&[b"LTRIM", list, &start, &stop], &[]),
                    "TRIM",
                )
            }
            66..=78 => {
                let value = self.value(&seen);
                if self.rng.chance(60) {
                    return self.pos_rank_min(target, value);
                }
                let options = self.pos_options(len);
                op(
                    line(&[b"MULTIMAP.POS", key, field, &value], &options),
                    native(&[b"LPOS", list, &value], &options),
                    "POS",
                )
            }
            79..=87 => {
                let (start, stop) = (self.integer_arg(len), self.integer_arg(len));
                op(
                    line(&[b"MULTIMAP.RANGE", key, field, &start, &stop], &[]),
                    native(&[b"LRANGE", list, &start, &stop], &[]),
                    "RANGE",
                )
            }
            88..=92 => op(
                line(&[b"MULTIMAP.LEN", key, field], &[]),
                native(&[b"LLEN", list], &[]),
                "LEN",
            ),
            _ => {
                let value = self.value(&seen);
                op(
                    line(&[b"MULTIMAP.REMOVE", key, field, &value], &[]),
                    native(&[b"LREM", list, b"0", &value], &[]),
                    "REMOVE",
                )
            }
        }
    }

    fn pop(&mut self, target: &'static Target, len: usize) -> Op {
        let (direction, left) = self.direction();
        let (list, key, field) = (target.list, target.key, target.field);
        let name: &[u8] = if left { b"LPOP" } else { b"RPOP" };
        let mut ours = line(&[b"MULTIMAP.POP", key, field], &[]);
        if self.rng.chance(10) {
            // Shapes LPOP has no counterpart of: the contract's syntax error,
            // a bad direction winning over a bad count.
            let bad: &[&[u8]] = match self.rng.index(7) {
                0 => &[b"UP"],
                1 => &[b"UP", b"COUNT", b"-1"],
                2 => &[b"LEFT", b"COUNT"],
                3 => &[b"RIGHT", b"COUNT", b"1", b"COUNT", b"1"],
                4 => &[b"LEFT", b"FOO", b"1"],
                5 => &[b"RIGHT", b"COUNT", b"1", b"FOO"],
                _ => &[b"LEFT", b"1"],
            };
            ours.extend(bad.iter().map(|arg| arg.to_vec()));
            return Op {
                target,
                ours,
                check: Check::Error(SYNTAX),
                kind: "POP (syntax error)",
            };
        }
        ours.push(direction.to_vec());
        if self.rng.chance(3) {
            return Op {
                target,
                ours,
                check: Check::Native(line(&[name, list], &[])),
                kind: "POP",
            };
        }
        let count = self.count_arg(len);
        ours.extend([b"COUNT".to_vec(), count.clone()]);
        Op {
            target,
            ours,
            check: Check::Native(line(&[name, list, &count], &[])),
            kind: "POP COUNT",
        }
    }

    /// LPOS options in any order and number: RANK, COUNT and MAXLEN with
    /// good and bad values, now and then given twice (the last one counts),
    /// an unknown one, or one missing its value at the end.
    fn pos_options(&mut self, len: usize) -> Vec<Bytes> {
        let mut options = Vec::new();
        for _ in 0..self.rng.index(4) {
            let (name, value): (&[u8], Bytes) = match self.rng.index(3) {
                0 => (
                    *self.rng.pick(&[&b"RANK"[..], b"rank"]),
                    match self.rng.index(12) {
                        0 => b"0".to_vec(),
                        1 => self.rng.pick(&NOT_INTEGERS).as_bytes().to_vec(),
                        2 => self
                            .rng
                            .pick(&["9223372036854775807", "-9223372036854775807"])
                            .as_bytes()
                            .to_vec(),
                        _ => {
                            let rank = 1 + self.rng.index(4) as i64;
                            (if self.rng.chance(2) { rank } else { -rank })
                                .to_string()
                                .into_bytes()
                        }
                    },
                ),
                1 => (
                    *self.rng.pick(&[&b"COUNT"[..], b"Count"]),
                    self.pos_number(len),
                ),
                _ => (
                    *self.rng.pick(&[&b"MAXLEN"[..], b"maxlen"]),
                    self.pos_number(len),
                ),
            };
            options.extend([name.to_vec(), value]);
        }
        match self.rng.index(25) {
            0 => options.extend([b"FOO".to_vec(), b"1".to_vec()]),
            1 => options.push(self.rng.pick(&[&b"RANK"[..], b"COUNT", b"MAXLEN"]).to_vec()),
            _ => {}
        }
        options
    }

    /// A COUNT or MAXLEN value: 0 (all), small, huge, negative or not a number.
    fn pos_number(&mut self, len: usize) -> Bytes {
        match self.rng.index(12) {
            0 => self
                .rng
                .pick(&["-1", "abc", "1.5", "", "9223372036854775808"]),
            1 => "9223372036854775807",
            2 | 3 => "0",
            _ => return (1 + self.rng.index(len + 2)).to_string().into_bytes(),
        }
        .as_bytes()
        .to_vec()
    }

    /// `RANK -9223372036854775808`: Redis 7.0 negates it in place (and finds
    /// the first match from the end), newer servers refuse it as out of their
    /// range; the contract refuses it as RANK 0, whatever the target.
    fn pos_rank_min(&mut self, target: &'static Target, value: Bytes) -> Op {
        let rank: &[u8] = b"-9223372036854775808";
        Op {
            target,
            ours: line(
                &[
                    b"MULTIMAP.POS",
                    target.key,
                    target.field,
                    &value,
                    b"RANK",
                    rank,
                ],
                &[],
            ),
            check: Check::Error(RANK_ZERO),
            kind: "POS RANK i64::MIN",
        }
    }
}

// ---------------------------------------------------------------- harness

struct Harness {
    seed: Seed,
    generator: Generator,
    con: Connection,
    protocol: &'static str,
    /// Each target's list content at the last check, by list name.
    seen: BTreeMap<&'static [u8], Seen>,
    other_present: bool,
    queued: Vec<(usize, Op)>,
    tallies: BTreeMap<&'static str, usize>,
    /// How often our reply was an error, nil, or an empty array.
    shapes: BTreeMap<&'static str, usize>,
}

fn send(con: &mut Connection, commands: &[&[Bytes]]) -> Vec<Value> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for args in commands {
        let mut command = redis::Cmd::new();
        for arg in *args {
            command.arg(arg.as_slice());
        }
        pipe.add_command(command);
    }
    if commands.is_empty() {
        return Vec::new();
    }
    let replies: Vec<Value> = pipe.query(con).expect("a pipeline");
    assert_eq!(replies.len(), commands.len());
    replies
}

fn values_of(reply: &Value) -> Vec<Bytes> {
    redis::from_redis_value_ref(reply).unwrap_or_else(|_| panic!("values, got {reply:?}"))
}

impl Harness {
    fn new(seed: Seed, server: &Server, resp3: bool) -> Harness {
        let mut con = if resp3 {
            server.connect_resp3()
        } else {
            server.connect()
        };
        send(&mut con, &[&line(&[b"SET", STRING.list, b"a string"], &[])]);
        let mut harness = Harness {
            generator: Generator::new(seed.value()),
            seed,
            con,
            protocol: if resp3 { "RESP3" } else { "RESP2" },
            seen: BTreeMap::new(),
            other_present: false,
            queued: Vec::new(),
            tallies: BTreeMap::new(),
            shapes: BTreeMap::new(),
        };
        harness.toggle_other();
        harness
    }

    fn fail(&self, index: usize, what: &str, detail: &str) -> ! {
        panic!(
            "{}: operation #{index} ({}): {what}\n{detail}\nreplay: {}",
            self.protocol,
            self.seed,
            self.seed.replay()
        );
    }

    fn toggle_other(&mut self) {
        let command = if self.other_present {
            line(&[b"MULTIMAP.DEL", BESIDE_OTHER.key, OTHER_FIELD], &[])
        } else {
            let values: Vec<Bytes> = OTHER_VALUES.iter().map(|v| v.to_vec()).collect();
            line(
                &[b"MULTIMAP.REPLACE", BESIDE_OTHER.key, OTHER_FIELD],
                &values,
            )
        };
        let reply = send(&mut self.con, &[&command]).remove(0);
        assert!(error_line(&reply).is_none(), "{reply:?}");
        self.other_present = !self.other_present;
    }

    fn step(&mut self, index: usize) {
        if self.generator.rng.chance(150) {
            self.flush();
            self.toggle_other();
        }
        if self.generator.rng.chance(400) {
            self.flush();
            self.reload(index);
        }
        let op = self.generator.op(&self.seen);
        *self.tallies.entry(op.kind).or_default() += 1;
        if let Check::Add(values) = &op.check {
            let values = values.clone();
            self.flush();
            self.add(index, op, values);
            return;
        }
        self.queued.push((index, op));
        if self.queued.len() >= BATCH {
            self.flush();
        }
    }

    /// Sends the queued pairs in one pipeline, checks every reply, then
    /// compares the contents.
    fn flush(&mut self) {
        let queued = std::mem::take(&mut self.queued);
        let mut commands: Vec<&[Bytes]> = Vec::new();
        for (_, op) in &queued {
            commands.push(&op.ours);
            if let Check::Native(native) = &op.check {
                commands.push(native);
            }
        }
        let mut replies = send(&mut self.con, &commands).into_iter();
        for (index, op) in &queued {
            let ours = replies.next().unwrap();
            self.tally_shape(&ours);
            let expected = match &op.check {
                Check::Native(_) => {
                    let native = replies.next().unwrap();
                    match error_line(&native) {
                        Some(text) => Expected::Error(our_text(&text)),
                        None => Expected::Reply(native),
                    }
                }
                Check::Error(text) => Expected::Error((*text).to_owned()),
                Check::Add(_) => unreachable!("ADD runs on its own"),
            };
            if let Err(detail) = expected.check(&ours) {
                let native = match &op.check {
                    Check::Native(native) => format!("\nnative: {}", show_command(native)),
                    _ => String::new(),
                };
                self.fail(
                    *index,
                    &format!("{}{native}", show_command(&op.ours)),
                    &detail,
                );
            }
        }
        self.compare_contents(queued.last().map_or(0, |(index, _)| *index));
    }

    /// Saves and loads the fields back, as `DEBUG RELOAD` or as DUMP and
    /// RESTORE: fields that POP and TRIM left in any shape must load as they
    /// were.
    fn reload(&mut self, index: usize) {
        *self.tallies.entry("(reload)").or_default() += 1;
        if self.generator.rng.chance(2) {
            let reply = send(&mut self.con, &[&line(&[b"DEBUG", b"RELOAD"], &[])]).remove(0);
            assert_eq!(reply, Value::Okay, "DEBUG RELOAD");
        } else {
            for key in [BESIDE_OTHER.key, ALONE.key] {
                let payload = send(&mut self.con, &[&line(&[b"DUMP", key], &[])]).remove(0);
                if let Value::BulkString(payload) = payload {
                    let restore = line(&[b"RESTORE", key, b"0", &payload, b"REPLACE"], &[]);
                    let reply = send(&mut self.con, &[&restore]).remove(0);
                    assert_eq!(reply, Value::Okay, "RESTORE");
                }
            }
        }
        self.compare_contents(index);
    }

    /// MULTIMAP.ADD: appends exactly the values the list lacks, each once;
    /// the list then gets them too.
    fn add(&mut self, index: usize, op: Op, values: Vec<Bytes>) {
        let target = op.target;
        let content = send(
            &mut self.con,
            &[
                &line(&[b"TYPE", target.list], &[]),
                &line(&[b"LRANGE", target.list, b"0", b"-1"], &[]),
            ],
        );
        let is_string = matches!(&content[0], Value::SimpleString(name) if name == "string");
        let reply = send(&mut self.con, &[&op.ours]).remove(0);
        self.tally_shape(&reply);
        let expected = if is_string {
            Expected::Error(WRONGTYPE.to_owned())
        } else {
            let mut held = values_of(&content[1]);
            let mut added = Vec::new();
            for value in values {
                if !held.contains(&value) {
                    held.push(value.clone());
                    added.push(value);
                }
            }
            if !added.is_empty() {
                send(&mut self.con, &[&line(&[b"RPUSH", target.list], &added)]);
            }
            Expected::Reply(Value::Int(added.len() as i64))
        };
        if let Err(detail) = expected.check(&reply) {
            self.fail(index, &show_command(&op.ours), &detail);
        }
        self.compare_contents(index);
    }

    fn tally_shape(&mut self, reply: &Value) {
        let shape = match reply {
            Value::ServerError(_) => "error",
            Value::Nil => "nil",
            Value::Array(items) if items.is_empty() => "empty array",
            Value::Array(_) => "array",
            Value::Int(_) => "integer",
            Value::BulkString(_) => "bulk",
            Value::Okay => "OK",
            _ => "other",
        };
        *self.shapes.entry(shape).or_default() += 1;
    }

    /// Each field holds what its list holds; `other` holds what it was given;
    /// each key exists exactly when it must.
    fn compare_contents(&mut self, index: usize) {
        let mut commands = Vec::new();
        for target in [&BESIDE_OTHER, &ALONE] {
            commands.push(line(&[b"LRANGE", target.list, b"0", b"-1"], &[]));
            commands.push(line(&[b"MULTIMAP.GET", target.key, target.field], &[]));
            commands.push(line(&[b"EXISTS", target.list], &[]));
            commands.push(line(&[b"EXISTS", target.key], &[]));
        }
        commands.push(line(&[b"MULTIMAP.GET", BESIDE_OTHER.key, OTHER_FIELD], &[]));
        let refs: Vec<&[Bytes]> = commands.iter().map(Vec::as_slice).collect();
        let replies = send(&mut self.con, &refs);
        for (target, replies) in [&BESIDE_OTHER, &ALONE].into_iter().zip(replies.chunks(4)) {
            let list = values_of(&replies[0]);
            let field = values_of(&replies[1]);
            if list != field {
                self.fail(
                    index,
                    &format!("after it, {}", show_command(&[target.key.to_vec()])),
                    &format!(
                        "the field holds {}, the list {}",
                        show_list(&field),
                        show_list(&list)
                    ),
                );
            }
            let key_must_exist =
                !list.is_empty() || (target.key == BESIDE_OTHER.key && self.other_present);
            if replies[3] != Value::Int(i64::from(key_must_exist)) {
                self.fail(
                    index,
                    "after it",
                    &format!(
                        "EXISTS {} replied {} (list {}, other field present: {})",
                        show_command(&[target.key.to_vec()]),
                        show_reply(&replies[3]),
                        show_reply(&replies[2]),
                        self.other_present
                    ),
                );
            }
            self.seen.insert(target.list, Seen { values: list });
        }
        let other = values_of(&replies[8]);
        let expected: Vec<Bytes> = if self.other_present {
            OTHER_VALUES.iter().map(|v| v.to_vec()).collect()
        } else {
            Vec::new()
        };
        if other != expected {
            self.fail(
                index,
                "after it",
                &format!(
                    "the untouched field holds {}, not {}",
                    show_list(&other),
                    show_list(&expected)
                ),
            );
        }
    }
}

enum Expected {
    Reply(Value),
    Error(String),
}

impl Expected {
    fn check(&self, ours: &Value) -> Result<(), String> {
        match (self, error_line(ours)) {
            (Expected::Reply(native), None) if native == ours => Ok(()),
            (Expected::Error(native), Some(text)) if *native == text => Ok(()),
            (Expected::Reply(native), _) => Err(format!(
                "replied {}, the native command {}",
                show_reply(ours),
                show_reply(native)
            )),
            (Expected::Error(native), _) => Err(format!(
                "replied {}, expected the error {native:?}",
                show_reply(ours)
            )),
        }
    }
}

fn run_differential(resp3: bool) {
    let seed = seed();
    let ops = env_number("MULTIMAP_OPS").map_or(DEFAULT_OPS, |ops| ops as usize);
    let server = Server::start();
    let mut harness = Harness::new(seed, &server, resp3);
    for index in 0..ops {
        harness.step(index);
    }
    harness.flush();
    eprintln!(
        "{} {}: {ops} operations {:?}; our replies: {:?}",
        harness.protocol, harness.seed, harness.tallies, harness.shapes
    );
    // A sequence that never met these would have compared little.
    for shape in ["error", "nil", "empty array", "array", "integer", "bulk"] {
        assert!(
            harness.shapes.get(shape).copied().unwrap_or(0) > 0 || ops < 1000,
            "no reply was {shape} in {ops} operations ({})",
            harness.seed
        );
    }
}

#[test]
fn random_list_operations_reply_as_native_lists_under_resp2() {
    run_differential(false);
}

#[test]
fn random_list_operations_reply_as_native_lists_under_resp3() {
    run_differential(true);
}

// ---------------------------------------------------------------- on the wire

/// A command line as [`Wire`] sends it.
type WireLine<'a> = &'a [&'a [u8]];

/// The same null as the native command, byte for byte: a null bulk string
/// where LPOP, LINDEX and LPOS send one, a null array where LPOP with a count
/// does (`*-1` under RESP2, `_` under both nulls in RESP3), empty arrays alike.
#[test]
fn nil_and_empty_replies_are_the_native_bytes() {
    let server = Server::start();
    let setup: [&[&[u8]]; 3] = [
        &[b"RPUSH", b"list", b"a", b"b"],
        &[b"MULTIMAP.INSERT", b"mm", b"f", b"a", b"b"],
        &[b"MULTIMAP.INSERT", b"mm", b"other", b"x"],
    ];
    let mut wire = Wire::connect(&server);
    for command in setup {
        wire.call(command);
    }
    // (native, ours on a missing field, ours on a missing key), or the same
    // on an existing list and field.
    let pairs: [(WireLine, WireLine); 14] = [
        (
            &[b"LPOP", b"nolist"],
            &[b"MULTIMAP.POP", b"mm", b"nofield", b"LEFT"],
        ),
        (
            &[b"RPOP", b"nolist"],
            &[b"MULTIMAP.POP", b"nokey", b"f", b"RIGHT"],
        ),
        (
            &[b"LPOP", b"nolist", b"2"],
            &[b"MULTIMAP.POP", b"mm", b"nofield", b"LEFT", b"COUNT", b"2"],
        ),
        (
            &[b"RPOP", b"nolist", b"0"],
            &[b"MULTIMAP.POP", b"nokey", b"f", b"RIGHT", b"COUNT", b"0"],
        ),
        (
            &[b"LPOP", b"list", b"0"],
            &[b"MULTIMAP.POP", b"mm", b"f", b"LEFT", b"COUNT", b"0"],
        ),
        (
            &[b"LINDEX", b"nolist", b"0"],
            &[b"MULTIMAP.INDEX", b"mm", b"nofield", b"0"],
        ),
        (
            &[b"LINDEX", b"nolist", b"x"],
            &[b"MULTIMAP.INDEX", b"nokey", b"f", b"x"],
        ),
        (
            &[b"LINDEX", b"list", b"2"],
            &[b"MULTIMAP.INDEX", b"mm", b"f", b"2"],
        ),
        (
            &[b"LPOS", b"nolist", b"a"],
            &[b"MULTIMAP.POS", b"nokey", b"f", b"a"],
        ),
        (
            &[b"LPOS", b"nolist", b"a", b"COUNT", b"0"],
            &[b"MULTIMAP.POS", b"mm", b"nofield", b"a", b"COUNT", b"0"],
        ),
        (
            &[b"LPOS", b"list", b"z"],
            &[b"MULTIMAP.POS", b"mm", b"f", b"z"],
        ),
        (
            &[b"LPOS", b"list", b"z", b"COUNT", b"2"],
            &[b"MULTIMAP.POS", b"mm", b"f", b"z", b"COUNT", b"2"],
        ),
        (
            &[b"LRANGE", b"nolist", b"0", b"-1"],
            &[b"MULTIMAP.RANGE", b"nokey", b"f", b"0", b"-1"],
        ),
        (
            &[b"LRANGE", b"list", b"5", b"9"],
            &[b"MULTIMAP.RANGE", b"mm", b"f", b"5", b"9"],
        ),
    ];
    for resp3 in [false, true] {
        let mut wire = if resp3 {
            Wire::connect_resp3(&server)
        } else {
            Wire::connect(&server)
        };
        for (native, ours) in pairs {
            let expected = wire.call(native);
            assert_eq!(
                wire.call(ours).escape_ascii().to_string(),
                expected.escape_ascii().to_string(),
                "{} against {} (RESP{})",
                show_command(&ours.iter().map(|arg| arg.to_vec()).collect::<Vec<_>>()),
                show_command(&native.iter().map(|arg| arg.to_vec()).collect::<Vec<_>>()),
                if resp3 { 3 } else { 2 }
            );
        }
    }
    // Nothing above changed anything.
    assert_eq!(wire.call(&[b"MULTIMAP.LEN", b"mm", b"f"]), b":2\r\n");
    assert_eq!(wire.call(&[b"EXISTS", b"nokey"]), b":0\r\n");
}

// ---------------------------------------------------------------- examples

fn texts(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

#[test]
fn prepend_puts_the_values_at_the_front_in_the_given_order() {
    let server = Server::start();
    let mut con = server.connect();
    common::insert(&mut con, "k", "f", &["c"]);
    assert_eq!(
        common::integer(&mut con, ("MULTIMAP.PREPEND", "k", "f", "a", "b")),
        3
    );
    assert_eq!(common::get(&mut con, "k", "f"), texts(&["a", "b", "c"]));
    assert_eq!(
        common::integer(&mut con, ("MULTIMAP.PREPEND", "k", "g", "x", "x")),
        2
    );
    assert_eq!(common::get(&mut con, "k", "g"), texts(&["x", "x"]));
}

#[test]
fn add_appends_each_missing_value_once_and_counts_them() {
    let server = Server::start();
    let mut con = server.connect();
    common::insert(&mut con, "k", "f", &["a", "b"]);
    let added = common::integer(
        &mut con,
        ("MULTIMAP.ADD", "k", "f", "b", "c", "a", "c", "d"),
    );
    assert_eq!(added, 2);
    assert_eq!(
        common::get(&mut con, "k", "f"),
        texts(&["a", "b", "c", "d"])
    );
    assert_eq!(
        common::integer(&mut con, ("MULTIMAP.ADD", "k", "f", "d", "a")),
        0
    );
    assert_eq!(
        common::integer(&mut con, ("MULTIMAP.ADD", "new", "f", "x", "x")),
        1
    );
    assert_eq!(common::get(&mut con, "new", "f"), texts(&["x"]));
}

/// The "tags" use: thousands of values ADDed to a field of thousands, half of
/// them new. (That this is linear, not quadratic, is the data structure's unit
/// tests' business and `make bench`'s, not a wall clock's.)
#[test]
fn add_of_thousands_to_a_field_of_thousands_appends_exactly_the_new_ones() {
    let server = Server::start();
    let mut con = server.connect();
    let held: Vec<String> = (0..50_000).map(|i| format!("tag{i}")).collect();
    common::insert(&mut con, "k", "tags", &held);
    let given: Vec<String> = (25_000..75_000).map(|i| format!("tag{i}")).collect();
    let added = common::integer(&mut con, ("MULTIMAP.ADD", "k", "tags", &given));
    assert_eq!(added, 25_000);
    let all: Vec<String> = (0..75_000).map(|i| format!("tag{i}")).collect();
    assert_eq!(common::get(&mut con, "k", "tags"), all);
}

/// ADD on a long field answers from the field's value set, which every
/// change to the field must keep exact or drop: pops and pushes at both ends
/// (BPOP of a value waiting included), changes in the middle, a copy moved
/// back in, a reload. A plain list of what the field holds says what each
/// ADD must answer.
#[test]
fn add_to_a_long_field_stays_exact_through_every_change_a_copy_and_a_reload() {
    let server = Server::start();
    let mut con = server.connect();
    let seed = seed();
    let mut rng = seed.rng();
    let mut held: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    common::insert(&mut con, "k", "f", &held);
    let value = |rng: &mut Rng| format!("v{}", rng.index(600));
    for step in 0..4_000 {
        let context = format!("step {step}, {seed}");
        match rng.index(12) {
            0..=3 => {
                let given = [value(&mut rng), value(&mut rng)];
                let count = 1 + rng.index(2);
                let mut added = 0;
                for value in &given[..count] {
                    if !held.contains(value) {
                        held.push(value.clone());
                        added += 1;
                    }
                }
                let reply = common::integer(&mut con, ("MULTIMAP.ADD", "k", "f", &given[..count]));
                assert_eq!(reply, added, "{context}");
            }
            4 | 5 => {
                let (end, popped) = match rng.chance(2) {
                    true => ("LEFT", held.remove(0)),
                    false => ("RIGHT", held.pop().expect("a long field")),
                };
                let command = if rng.chance(2) {
                    "MULTIMAP.POP"
                } else {
                    "MULTIMAP.BPOP"
                };
                let reply: Value = match command {
                    "MULTIMAP.POP" => common::run(&mut con, (command, "k", "f", end)),
                    _ => common::run(&mut con, (command, "k", "f", end, "0.01")),
                };
                let expected = match command {
                    "MULTIMAP.POP" => Value::BulkString(popped.into_bytes()),
                    _ => Value::Array(vec![Value::BulkString(popped.into_bytes())]),
                };
                assert_eq!(reply, expected, "{context}");
            }
            6 => {
                let value = value(&mut rng);
                held.insert(0, value.clone());
                let reply = common::integer(&mut con, ("MULTIMAP.PREPEND", "k", "f", &value));
                assert_eq!(reply, held.len() as i64, "{context}");
            }
            7 => {
                let value = value(&mut rng);
                held.push(value.clone());
                let reply = common::integer(&mut con, ("MULTIMAP.INSERT", "k", "f", &value));
                assert_eq!(reply, held.len() as i64, "{context}");
            }
            8 => {
                let index = rng.index(held.len());
                let value = value(&mut rng);
                common::run(&mut con, ("MULTIMAP.SET", "k", "f", index, &value));
                held[index] = value;
            }
            9 => {
                let value = value(&mut rng);
                let before = held.len();
                held.retain(|held| *held != value);
                let reply = common::integer(&mut con, ("MULTIMAP.REMOVE", "k", "f", &value));
                assert_eq!(reply, (before - held.len()) as i64, "{context}");
            }
            10 => {
                held = held[1..held.len() - 1].to_vec();
                common::run(&mut con, ("MULTIMAP.TRIM", "k", "f", 1, -2));
            }
            _ => {
                if rng.chance(2) {
                    assert_eq!(common::integer(&mut con, ("COPY", "k", "copy")), 1);
                    common::run(&mut con, ("RENAME", "copy", "k"));
                } else {
                    assert_eq!(common::run(&mut con, ("DEBUG", "RELOAD")), Value::Okay);
                }
            }
        }
        // Keeps the field long enough to have a value set.
        if held.len() < 100 {
            let more: Vec<String> = (0..200).map(|_| value(&mut rng)).collect();
            held.extend(more.iter().cloned());
            common::insert(&mut con, "k", "f", &more);
        }
        if step % 200 == 0 {
            assert_eq!(common::get(&mut con, "k", "f"), held, "{context}");
        }
    }
    assert_eq!(common::get(&mut con, "k", "f"), held, "{seed}");
}

/// Where newer servers' native lists stray from Redis 7.0 (see
/// [`lset_index`] and [`Generator::pos_rank_min`]), MULTIMAP keeps 7.0's
/// answer on every server.
#[test]
fn set_past_32_bits_and_pos_rank_min_answer_as_redis_7_0_does() {
    let server = Server::start();
    let mut con = server.connect();
    common::insert(&mut con, "k", "f", &["a", "b", "c"]);
    for index in [
        "4294967296",
        "4294967297",
        "-4294967296",
        "9223372036854775807",
    ] {
        let error = common::error_reply(&mut con, ("MULTIMAP.SET", "k", "f", index, "X"));
        assert_eq!(error, common::INDEX_OUT_OF_RANGE, "index {index}");
    }
    assert_eq!(common::get(&mut con, "k", "f"), texts(&["a", "b", "c"]));
    for line in [
        &[
            "MULTIMAP.POS",
            "k",
            "f",
            "a",
            "RANK",
            "-9223372036854775808",
        ][..],
        &[
            "MULTIMAP.POS",
            "nokey",
            "f",
            "a",
            "RANK",
            "-9223372036854775808",
        ],
        &["MULTIMAP.POS", "k", "f", "a", "RANK", "0", "COUNT", "-1"],
    ] {
        assert_eq!(common::error_reply(&mut con, line), RANK_ZERO, "{line:?}");
    }
}

/// Every index of `key` `field` read with INDEX (from the front and from the
/// back) and every 50th with RANGE, against LINDEX and LRANGE of `list`.
fn assert_reads_as_native(con: &mut Connection, key: &str, field: &str, list: &str, when: &str) {
    let len = common::integer(con, ("LLEN", list));
    assert_eq!(
        common::integer(con, ("MULTIMAP.LEN", key, field)),
        len,
        "{when}"
    );
    let mut ours = redis::pipe();
    let mut native = redis::pipe();
    for index in (-len..len).chain([len, -len - 1]) {
        ours.cmd("MULTIMAP.INDEX").arg(key).arg(field).arg(index);
        native.cmd("LINDEX").arg(list).arg(index);
    }
    for start in (-len..len).step_by(50) {
        let stop = start + 80;
        ours.cmd("MULTIMAP.RANGE")
            .arg(key)
            .arg(field)
            .arg(start)
            .arg(stop);
        native.cmd("LRANGE").arg(list).arg(start).arg(stop);
    }
    let ours: Vec<Value> = ours.query(con).expect("our reads");
    let native: Vec<Value> = native.query(con).expect("native reads");
    for (i, (ours, native)) in ours.iter().zip(&native).enumerate() {
        assert_eq!(ours, native, "{when}: read {i} of a {len}-value field");
    }
}

/// A field long enough to keep where every 64th value starts (a MultiMap
/// field of 128 values or more does) reads at every index as the native list
/// after pushes and pops at both ends, SETs that change a value's length,
/// TRIM, DEBUG RELOAD and DUMP + RESTORE, and shrunk back below that length.
#[test]
fn a_long_field_reads_at_every_index_as_the_native_list_through_writes_and_reloads() {
    let server = Server::start();
    let mut con = server.connect();
    let (key, field, list) = ("mm", "f", "list");
    let values: Vec<String> = (0..1_500).map(|i| format!("v{i}")).collect();
    common::insert(&mut con, key, field, &values);
    let _: i64 = common::command(("RPUSH", list, &values))
        .query(&mut con)
        .expect("RPUSH");
    assert_reads_as_native(&mut con, key, field, list, "inserted");

    for i in 0..100 {
        let value = format!("p{i}");
        common::integer(&mut con, ("MULTIMAP.PREPEND", key, field, &value));
        common::integer(&mut con, ("LPUSH", list, &value));
    }
    let ours: Value = common::command(("MULTIMAP.POP", key, field, "LEFT", "COUNT", 37))
        .query(&mut con)
        .expect("POP");
    let native: Value = common::command(("LPOP", list, 37))
        .query(&mut con)
        .expect("LPOP");
    assert_eq!(ours, native);
    let ours: Value = common::command(("MULTIMAP.POP", key, field, "RIGHT", "COUNT", 50))
        .query(&mut con)
        .expect("POP");
    let native: Value = common::command(("RPOP", list, 50))
        .query(&mut con)
        .expect("RPOP");
    assert_eq!(ours, native);
    assert_reads_as_native(&mut con, key, field, list, "pushed and popped at both ends");

    let long = "x".repeat(300);
    for (index, value) in [(700, long.as_str()), (-300, ""), (64, &long), (1, "y")] {
        let ours: Value = common::command(("MULTIMAP.SET", key, field, index, value))
            .query(&mut con)
            .expect("SET");
        let native: Value = common::command(("LSET", list, index, value))
            .query(&mut con)
            .expect("LSET");
        assert_eq!(ours, native, "SET {index}");
    }
    assert_reads_as_native(&mut con, key, field, list, "set");

    for (start, stop) in [(3, -5), (200, -200)] {
        let _: Value = common::command(("MULTIMAP.TRIM", key, field, start, stop))
            .query(&mut con)
            .expect("TRIM");
        let _: Value = common::command(("LTRIM", list, start, stop))
            .query(&mut con)
            .expect("LTRIM");
        assert_reads_as_native(&mut con, key, field, list, &format!("TRIM {start} {stop}"));
    }

    let _: () = common::command(("DEBUG", "RELOAD"))
        .query(&mut con)
        .expect("DEBUG RELOAD");
    assert_reads_as_native(&mut con, key, field, list, "reloaded");
    let payload = common::dump(&mut con, key);
    let _: i64 = common::command(("DEL", key)).query(&mut con).expect("DEL");
    common::restore(&mut con, key, &payload).expect("RESTORE");
    assert_reads_as_native(&mut con, key, field, list, "restored");

    for (remaining, when) in [(100, "below 128 values"), (40, "below 64 values")] {
        let len = common::integer(&mut con, ("LLEN", list));
        let popped = len - remaining;
        let _: Value = common::command(("MULTIMAP.POP", key, field, "LEFT", "COUNT", popped))
            .query(&mut con)
            .expect("POP");
        let _: Value = common::command(("LPOP", list, popped))
            .query(&mut con)
            .expect("LPOP");
        assert_reads_as_native(&mut con, key, field, list, when);
    }
}
