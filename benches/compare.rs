//! `make bench`: what a MultiMap costs next to what people do without the
//! module: one list per field (key `name:field`), or one hash when every field
//! holds a single value.
//!
//! One redis-server with the module holds both forms of the same data. Every
//! figure is reported as a ratio module/native measured in the same run, the
//! median over rounds that alternate module and native: the machines this runs
//! on are shared and noisy, so absolute times mean little while ratios taken
//! side by side hold up.
//!
//! The list-grade commands (POP, INDEX, PREPEND, TRIM, ADD) are compared
//! with the list commands they mirror by CPU per call too, and BPOP with BLPOP
//! by how long a blocked client waits for a value once it is pushed.
//!
//! The rows of O(1) commands also show their floor: the same call to a
//! command of benches/floor.c, which only opens the key and replies. They
//! run a second time on keys of a hundred fields, small enough to stay in
//! the CPU's caches, where the floor is the limit the module's own code is
//! measured against.
//!
//! The per-call CPU rows of the original commands, and the memory and DEBUG
//! RELOAD rows, run again with 10× the fields, to show how costs grow with the
//! data; `BENCH_SCALE=0` skips them. The list-grade rows depend on a field's
//! length rather than on how many fields there are, so they run once.
//!
//! The field-expiry rows are a run of their own (`-- field-expiry`), on a
//! server with Redis's own hash-field expiry: `make bench` runs them second,
//! on Redis 8.2, module against hash on that one server. They compare the
//! expiry commands by CPU per call, memory per field with and without an
//! expiry, and active expiry of a million fields of one key expiring at once:
//! how long until the key is gone and the longest pause another client sees
//! (a hundred thousand fields with `BENCH_SCALE=0`).

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "compare/big_keys.rs"]
mod big_keys;

#[path = "compare/held_add.rs"]
mod held_add;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Rng, Server};
use redis::{Cmd, Connection, Pipeline, Value};

/// Rounds of (module, native) measurements; each row reports medians.
const ROUNDS: usize = 5;
/// How many times more fields the scaled-up rows hold.
const SCALE: usize = 10;
/// Fields of the keys of the in-cache pass of the rows with a floor. A key
/// this small stays in the CPU's caches between calls, so the pass shows what
/// the module's own code costs over the floor; in the bigger keys of the other
/// rows, every lookup also waits on memory, which the floor (reading nothing
/// of the key) never does, and neither the module nor a native command can
/// come near it there.
const IN_CACHE_FIELDS: usize = 100;
/// Arguments sent per pipeline: large enough that round trips do not dominate
/// loading, small enough to keep client and server buffers modest.
const PIPELINE_ARGS: usize = 50_000;
/// redis-benchmark's load: several clients, each pipelining requests, so the
/// server rather than the network round trip is the bottleneck.
const BENCHMARK_CLIENTS: &str = "8";
const BENCHMARK_PIPELINE: &str = "16";

#[derive(Clone, Copy)]
enum Side {
    Module,
    Native,
}

/// Module first, then native, in every round.
const SIDES: [Side; 2] = [Side::Module, Side::Native];

/// How the native side stores a data set.
#[derive(Clone, Copy)]
enum NativeForm {
    /// One list per field, at `key:field`.
    Lists,
    /// One hash holding every field, at `key:hash` (one value per field).
    Hash,
    /// One list per field, at `key:field`, and beside it a set of the same
    /// values, at `key:field:set`: the native way to append only new values
    /// without a script.
    ListsAndSets,
}

/// Fields `f:000000000000`, `f:000000000001`, ... each holding the values
/// `val:000000000000`, `val:000000000001`, ... (16 bytes each).
#[derive(Clone, Copy)]
struct Dataset {
    /// The MultiMap key, and the prefix of the native keys.
    key: &'static str,
    fields: usize,
    values_per_field: usize,
    native: NativeForm,
    /// Whether every field carries an expiry (only with a hash as the native
    /// form: a list has none).
    field_expiry: bool,
}

/// redis-benchmark's `-r` expands `__rand_int__` to 12 digits, so
/// `f:__rand_int__` names these same fields.
fn field_name(index: usize) -> String {
    format!("f:{index:012}")
}

/// 16 bytes, and not numeric, so lists cannot store it as an integer.
fn value_name(index: usize) -> String {
    format!("val:{index:012}")
}

impl Dataset {
    fn values(&self) -> usize {
        self.fields * self.values_per_field
    }

    fn scaled(&self, scale: usize) -> Dataset {
        Dataset {
            fields: self.fields * scale,
            ..*self
        }
    }

    fn with_fields(&self, fields: usize) -> Dataset {
        Dataset { fields, ..*self }
    }

    fn describe(&self) -> String {
        let native = match self.native {
            NativeForm::Lists => "lists",
            NativeForm::Hash => "hash",
            NativeForm::ListsAndSets => "lists and sets",
        };
        let values = match self.values_per_field {
            1 => "1 value".to_owned(),
            many => format!("{} values", count(many)),
        };
        format!("{} fields × {values} (vs {native})", count(self.fields))
    }

    fn hash_key(&self) -> String {
        format!("{}:hash", self.key)
    }

    fn list_key(&self, field: &str) -> String {
        format!("{}:{field}", self.key)
    }

    fn set_key(&self, field: &str) -> String {
        format!("{}:{field}:set", self.key)
    }

    fn load(&self, con: &mut Connection, side: Side) {
        assert!(
            !matches!(self.native, NativeForm::Hash) || self.values_per_field == 1,
            "a hash holds one value per field"
        );
        assert!(
            !self.field_expiry || matches!(self.native, NativeForm::Hash),
            "only a hash has field expiry"
        );
        let values: Vec<String> = (0..self.values_per_field).map(value_name).collect();
        let mut batch = Batch::default();
        for field in (0..self.fields).map(field_name) {
            let commands = match (side, self.native) {
                (Side::Module, _) => vec![redis::cmd("MULTIMAP.INSERT")
                    .arg(self.key)
                    .arg(&field)
                    .clone()],
                (Side::Native, NativeForm::Lists) => {
                    vec![redis::cmd("RPUSH").arg(self.list_key(&field)).clone()]
                }
                (Side::Native, NativeForm::Hash) => {
                    vec![redis::cmd("HSET").arg(self.hash_key()).arg(&field).clone()]
                }
                (Side::Native, NativeForm::ListsAndSets) => vec![
                    redis::cmd("RPUSH").arg(self.list_key(&field)).clone(),
                    redis::cmd("SADD").arg(self.set_key(&field)).clone(),
                ],
            };
            for mut command in commands {
                command.arg(&values);
                batch.add(con, command);
            }
        }
        batch.flush(con);
        if self.field_expiry {
            self.set_expiries(con, side);
        }
    }

    /// Gives every field its own expiry, one to two hours ahead, spread
    /// alike on both sides (the same seed): the bench never sees one expire.
    fn set_expiries(&self, con: &mut Connection, side: Side) {
        let soonest = server_time_ms(con) + 3_600_000;
        let mut rng = Rng(EXPIRY_SEED);
        let mut batch = Batch::default();
        for field in (0..self.fields).map(field_name) {
            let at = soonest + rng.below(3_600_000);
            batch.add(con, self.expire_at(side, at, &[field]));
        }
        batch.flush(con);
    }

    /// PEXPIREAT on `fields` of this data set, on one side.
    fn expire_at(&self, side: Side, at_ms: u64, fields: &[String]) -> Cmd {
        let mut command = match side {
            Side::Module => redis::cmd("MULTIMAP.PEXPIREAT").arg(self.key).clone(),
            Side::Native => redis::cmd("HPEXPIREAT").arg(self.hash_key()).clone(),
        };
        command
            .arg(at_ms)
            .arg("FIELDS")
            .arg(fields.len())
            .arg(fields);
        command
    }

    /// TTL (or HTTL) of one field, on one side.
    fn ttl(&self, con: &mut Connection, side: Side, field: &str) -> i64 {
        let command = match side {
            Side::Module => "MULTIMAP.TTL",
            Side::Native => "HTTL",
        };
        let ttl: Vec<i64> = redis::cmd(command)
            .arg(self.single_key(side))
            .arg(&["FIELDS", "1"])
            .arg(field)
            .query(con)
            .unwrap_or_else(|error| panic!("{command}: {error}"));
        ttl[0]
    }

    /// The key that holds this data set on one side, when one key holds it all.
    fn single_key(&self, side: Side) -> String {
        match (side, self.native) {
            (Side::Module, _) => self.key.to_owned(),
            (Side::Native, NativeForm::Hash) => self.hash_key(),
            (Side::Native, _) => panic!("lists are one key per field"),
        }
    }

    fn clear(&self, con: &mut Connection, side: Side) {
        let mut batch = Batch::default();
        match (side, self.native) {
            (Side::Module, _) => batch.add(con, del(self.key)),
            (Side::Native, NativeForm::Hash) => batch.add(con, del(&self.hash_key())),
            (Side::Native, NativeForm::Lists) => {
                for field in (0..self.fields).map(field_name) {
                    batch.add(con, del(&self.list_key(&field)));
                }
            }
            (Side::Native, NativeForm::ListsAndSets) => {
                for field in (0..self.fields).map(field_name) {
                    batch.add(con, del(&self.list_key(&field)));
                    batch.add(con, del(&self.set_key(&field)));
                }
            }
        }
        batch.flush(con);
    }

    /// Whether the database holds exactly this data set on one side (and
    /// nothing else), e.g. after a DEBUG RELOAD.
    fn is_stored(&self, con: &mut Connection, side: Side) -> bool {
        let (command, expected) = match (side, self.native) {
            (Side::Module, _) => (
                redis::cmd("MULTIMAP.SIZE").arg(self.key).clone(),
                self.values(),
            ),
            (Side::Native, NativeForm::Lists) => (redis::cmd("DBSIZE"), self.fields),
            (Side::Native, NativeForm::ListsAndSets) => (redis::cmd("DBSIZE"), 2 * self.fields),
            (Side::Native, NativeForm::Hash) => {
                (redis::cmd("HLEN").arg(self.hash_key()).clone(), self.fields)
            }
        };
        let stored: usize = command.query(con).expect("counting stored data");
        stored == expected
    }
}

fn del(key: &str) -> Cmd {
    redis::cmd("DEL").arg(key).clone()
}

/// Sends commands in pipelines of bounded size. Replies are dropped, but an
/// error reply still fails the benchmark.
#[derive(Default)]
struct Batch {
    pipeline: Pipeline,
    args: usize,
}

impl Batch {
    fn add(&mut self, con: &mut Connection, command: Cmd) {
        self.args += command.args_iter().len();
        self.pipeline.add_command(command).ignore();
        if self.args >= PIPELINE_ARGS {
            self.flush(con);
        }
    }

    fn flush(&mut self, con: &mut Connection) {
        if !self.pipeline.is_empty() {
            self.pipeline.exec(con).expect("pipelined commands");
            self.pipeline.clear();
            self.args = 0;
        }
    }
}

/// The data the per-call rows work on, all present at once (distinct keys).
/// The MultiMap key names and the native key prefixes appear again in the
/// command templates below.
const LISTS: Dataset = Dataset {
    key: "mm",
    fields: 10_000,
    values_per_field: 100,
    native: NativeForm::Lists,
    field_expiry: false,
};
const APPEND: Dataset = Dataset {
    key: "append",
    fields: 10_000,
    values_per_field: 1,
    native: NativeForm::Lists,
    field_expiry: false,
};
const SINGLE: Dataset = Dataset {
    key: "single",
    fields: 10_000,
    values_per_field: 1,
    native: NativeForm::Hash,
    field_expiry: false,
};

/// Command templates: `{field}` stands for a random field of the data set,
/// `{value}` for a random one of its values, an argument `{values}` for all
/// the values a field holds, and an argument `{fields}` for FIELDS_PER_CALL
/// random fields (the first of them `{field}`), right after their count.
type Template = &'static [&'static str];

/// How many fields a `{fields}` template argument stands for.
const FIELDS_PER_CALL: usize = 10;

/// One side of an operation measured by server CPU per call.
struct Call {
    /// Sent before each call, on the same field, to set up what the call
    /// works on; its CPU is not counted (it is another command).
    prepare: &'static [Template],
    /// The commands of one call, each with its entry in INFO commandstats
    /// (`cmdstat_<stat>`): the call costs their sum. Most calls are one
    /// command; the native way to do some things is several.
    timed: &'static [(&'static str, Template)],
    /// Sent after each call to put back what it changed, so every call sees
    /// the same data; its CPU is not counted (it is another command).
    restore: &'static [Template],
}

struct CpuOperation {
    label: &'static str,
    data: &'static Dataset,
    /// The data grows with every call: reload it before each measurement so
    /// all rounds start equal.
    reload: bool,
    calls: usize,
    module: Call,
    native: Call,
    /// The module floor's command standing for the module's, on the same
    /// key and arguments, for the O(1) commands (see benches/floor.c).
    floor: Option<Call>,
}

/// A floor command of benches/floor.c, on the module's key and arguments:
/// it changes nothing, so it needs nothing put back.
macro_rules! floor {
    ($stat:literal, [$($arg:literal),* $(,)?]) => {
        Some(Call {
            prepare: &[],
            timed: &[($stat, &[$($arg),*])],
            restore: &[],
        })
    };
}

const CPU_OPERATIONS: &[CpuOperation] = &[
    CpuOperation {
        label: "append 1 value to a field: INSERT vs RPUSH",
        data: &APPEND,
        reload: true,
        calls: 50_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.insert",
                &["MULTIMAP.INSERT", "append", "{field}", "{value}"],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("rpush", &["RPUSH", "append:{field}", "{value}"])],
            restore: &[],
        },
        floor: None,
    },
    CpuOperation {
        label: "read a 100-value field: GET vs LRANGE 0 -1",
        data: &LISTS,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.get", &["MULTIMAP.GET", "mm", "{field}"])],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("lrange", &["LRANGE", "mm:{field}", "0", "-1"])],
            restore: &[],
        },
        floor: None,
    },
    CpuOperation {
        label: "count a 100-value field: LEN vs LLEN",
        data: &LISTS,
        reload: false,
        calls: 50_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.len", &["MULTIMAP.LEN", "mm", "{field}"])],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("llen", &["LLEN", "mm:{field}"])],
            restore: &[],
        },
        floor: floor!(
            "floor.read.integer",
            ["FLOOR.READ.INTEGER", "mm", "{field}"]
        ),
    },
    CpuOperation {
        label: "remove 1 value from a 100-value field: REMOVE vs LREM 0",
        data: &LISTS,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.remove",
                &["MULTIMAP.REMOVE", "mm", "{field}", "{value}"],
            )],
            restore: &[&["MULTIMAP.INSERT", "mm", "{field}", "{value}"]],
        },
        native: Call {
            prepare: &[],
            timed: &[("lrem", &["LREM", "mm:{field}", "0", "{value}"])],
            restore: &[&["RPUSH", "mm:{field}", "{value}"]],
        },
        floor: None,
    },
    CpuOperation {
        label: "delete a 100-value field: DEL field vs DEL list",
        data: &LISTS,
        reload: false,
        calls: 10_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.del", &["MULTIMAP.DEL", "mm", "{field}"])],
            restore: &[&["MULTIMAP.INSERT", "mm", "{field}", "{values}"]],
        },
        native: Call {
            prepare: &[],
            timed: &[("del", &["DEL", "mm:{field}"])],
            restore: &[&["RPUSH", "mm:{field}", "{values}"]],
        },
        floor: None,
    },
    CpuOperation {
        label: "set a one-value field: REPLACE vs HSET",
        data: &SINGLE,
        reload: false,
        calls: 50_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.replace",
                &["MULTIMAP.REPLACE", "single", "{field}", "{value}"],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("hset", &["HSET", "single:hash", "{field}", "{value}"])],
            restore: &[],
        },
        floor: floor!(
            "floor.write.integer",
            ["FLOOR.WRITE.INTEGER", "single", "{field}", "{value}"]
        ),
    },
    CpuOperation {
        label: "read a one-value field: GET vs HGET",
        data: &SINGLE,
        reload: false,
        calls: 50_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.get", &["MULTIMAP.GET", "single", "{field}"])],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("hget", &["HGET", "single:hash", "{field}"])],
            restore: &[],
        },
        floor: floor!(
            "floor.read.array",
            ["FLOOR.READ.ARRAY", "single", "{field}"]
        ),
    },
    CpuOperation {
        label: "tell whether a one-value field exists: EXISTS vs HEXISTS",
        data: &SINGLE,
        reload: false,
        calls: 50_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.exists", &["MULTIMAP.EXISTS", "single", "{field}"])],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("hexists", &["HEXISTS", "single:hash", "{field}"])],
            restore: &[],
        },
        floor: floor!(
            "floor.read.integer",
            ["FLOOR.READ.INTEGER", "single", "{field}"]
        ),
    },
    CpuOperation {
        label: "count the fields: CARD vs HLEN",
        data: &SINGLE,
        reload: false,
        calls: 50_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.card", &["MULTIMAP.CARD", "single"])],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("hlen", &["HLEN", "single:hash"])],
            restore: &[],
        },
        floor: floor!("floor.read.integer", ["FLOOR.READ.INTEGER", "single"]),
    },
    CpuOperation {
        label: "count the values of one-value fields: SIZE vs HLEN",
        data: &SINGLE,
        reload: false,
        calls: 50_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.size", &["MULTIMAP.SIZE", "single"])],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("hlen", &["HLEN", "single:hash"])],
            restore: &[],
        },
        floor: floor!("floor.read.integer", ["FLOOR.READ.INTEGER", "single"]),
    },
];

/// The data the list-grade rows work on: long fields (whose values a POP,
/// PREPEND or INDEX should not have to walk or move), fields capped at 100
/// values, and tag fields that only take values they do not hold yet.
const LONG: Dataset = Dataset {
    key: "long",
    fields: 100,
    values_per_field: 1_000,
    native: NativeForm::Lists,
    field_expiry: false,
};
const CAPPED: Dataset = Dataset {
    key: "capped",
    fields: 1_000,
    values_per_field: 100,
    native: NativeForm::Lists,
    field_expiry: false,
};
const TAGS: Dataset = Dataset {
    key: "tags",
    fields: 100,
    values_per_field: 1_000,
    native: NativeForm::ListsAndSets,
    field_expiry: false,
};

/// A value no field of TAGS holds, which ADD therefore appends; each call is
/// restored by popping it off again.
const NEW_TAG: &str = "val:not-yet-held";

/// Without the module, appending a value only when the list does not hold
/// it yet takes a script, so that nothing runs between looking and pushing.
const ADD_SCRIPT: &str = "if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end \
                          return redis.call('RPUSH', KEYS[1], ARGV[1])";

/// The list-grade commands against the list commands they mirror.
const LIST_OPERATIONS: &[CpuOperation] = &[
    CpuOperation {
        label: "pop 1 value off the front of a 1k-value field: POP LEFT vs LPOP",
        data: &LONG,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.pop", &["MULTIMAP.POP", "long", "{field}", "LEFT"])],
            restore: &[&["MULTIMAP.PREPEND", "long", "{field}", "{value}"]],
        },
        native: Call {
            prepare: &[],
            timed: &[("lpop", &["LPOP", "long:{field}"])],
            restore: &[&["LPUSH", "long:{field}", "{value}"]],
        },
        floor: floor!(
            "floor.write.bulk",
            ["FLOOR.WRITE.BULK", "long", "{field}", "LEFT"]
        ),
    },
    CpuOperation {
        label: "pop 1 value off the back of a 1k-value field: POP RIGHT vs RPOP",
        data: &LONG,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.pop",
                &["MULTIMAP.POP", "long", "{field}", "RIGHT"],
            )],
            restore: &[&["MULTIMAP.INSERT", "long", "{field}", "{value}"]],
        },
        native: Call {
            prepare: &[],
            timed: &[("rpop", &["RPOP", "long:{field}"])],
            restore: &[&["RPUSH", "long:{field}", "{value}"]],
        },
        floor: floor!(
            "floor.write.bulk",
            ["FLOOR.WRITE.BULK", "long", "{field}", "RIGHT"]
        ),
    },
    CpuOperation {
        label: "read the first value of a 1k-value field: INDEX 0 vs LINDEX 0",
        data: &LONG,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.index",
                &["MULTIMAP.INDEX", "long", "{field}", "0"],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("lindex", &["LINDEX", "long:{field}", "0"])],
            restore: &[],
        },
        floor: floor!(
            "floor.read.bulk",
            ["FLOOR.READ.BULK", "long", "{field}", "0"]
        ),
    },
    CpuOperation {
        label: "read the last value of a 1k-value field: INDEX -1 vs LINDEX -1",
        data: &LONG,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.index",
                &["MULTIMAP.INDEX", "long", "{field}", "-1"],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("lindex", &["LINDEX", "long:{field}", "-1"])],
            restore: &[],
        },
        floor: floor!(
            "floor.read.bulk",
            ["FLOOR.READ.BULK", "long", "{field}", "-1"]
        ),
    },
    CpuOperation {
        label: "read the middle value of a 1k-value field: INDEX 500 vs LINDEX 500",
        data: &LONG,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.index",
                &["MULTIMAP.INDEX", "long", "{field}", "500"],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("lindex", &["LINDEX", "long:{field}", "500"])],
            restore: &[],
        },
        floor: None,
    },
    CpuOperation {
        label: "prepend 1 value to a 1k-value field: PREPEND vs LPUSH",
        data: &LONG,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.prepend",
                &["MULTIMAP.PREPEND", "long", "{field}", "{value}"],
            )],
            restore: &[&["MULTIMAP.POP", "long", "{field}", "LEFT"]],
        },
        native: Call {
            prepare: &[],
            timed: &[("lpush", &["LPUSH", "long:{field}", "{value}"])],
            restore: &[&["LPOP", "long:{field}"]],
        },
        floor: None,
    },
    CpuOperation {
        label: "cap a field at 100 values after pushing 1: TRIM 0 99 vs LTRIM 0 99",
        data: &CAPPED,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[&["MULTIMAP.PREPEND", "capped", "{field}", "{value}"]],
            timed: &[(
                "multimap.trim",
                &["MULTIMAP.TRIM", "capped", "{field}", "0", "99"],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[&["LPUSH", "capped:{field}", "{value}"]],
            timed: &[("ltrim", &["LTRIM", "capped:{field}", "0", "99"])],
            restore: &[],
        },
        floor: None,
    },
    CpuOperation {
        label: "add 1 new value to a 1k-value field: ADD vs EVAL of LPOS then RPUSH",
        data: &TAGS,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.add",
                &["MULTIMAP.ADD", "tags", "{field}", NEW_TAG],
            )],
            restore: &[&["MULTIMAP.POP", "tags", "{field}", "RIGHT"]],
        },
        native: Call {
            prepare: &[],
            timed: &[("eval", &["EVAL", ADD_SCRIPT, "1", "tags:{field}", NEW_TAG])],
            restore: &[&["RPOP", "tags:{field}"]],
        },
        floor: None,
    },
    CpuOperation {
        label: "add 1 new value to a 1k-value field: ADD vs SADD + RPUSH (a set beside each list)",
        data: &TAGS,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.add",
                &["MULTIMAP.ADD", "tags", "{field}", NEW_TAG],
            )],
            restore: &[&["MULTIMAP.POP", "tags", "{field}", "RIGHT"]],
        },
        native: Call {
            prepare: &[],
            timed: &[
                ("sadd", &["SADD", "tags:{field}:set", NEW_TAG]),
                ("rpush", &["RPUSH", "tags:{field}", NEW_TAG]),
            ],
            restore: &[
                &["SREM", "tags:{field}:set", NEW_TAG],
                &["RPOP", "tags:{field}"],
            ],
        },
        floor: None,
    },
];

/// The field-expiry rows' data: one-value fields that each carry an expiry,
/// in one MultiMap and one hash.
const EXPIRING: Dataset = Dataset {
    key: "expiring",
    fields: 10_000,
    values_per_field: 1,
    native: NativeForm::Hash,
    field_expiry: true,
};

/// The seed of the expiry times `Dataset::set_expiries` spreads.
const EXPIRY_SEED: u64 = 12;

/// The field-expiry commands against Redis's own hash-field ones. Every call
/// sees a key whose other fields all carry an expiry: EXPIRE is timed on
/// fields whose expiry was just removed, PERSIST on fields that have one, and
/// what each changed is put back.
const EXPIRY_OPERATIONS: &[CpuOperation] = &[
    CpuOperation {
        label: "give 1 field an expiry: EXPIRE vs HEXPIRE",
        data: &EXPIRING,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[&["MULTIMAP.PERSIST", "expiring", "FIELDS", "1", "{field}"]],
            timed: &[(
                "multimap.expire",
                &[
                    "MULTIMAP.EXPIRE",
                    "expiring",
                    "7200",
                    "FIELDS",
                    "1",
                    "{field}",
                ],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[&["HPERSIST", "expiring:hash", "FIELDS", "1", "{field}"]],
            timed: &[(
                "hexpire",
                &["HEXPIRE", "expiring:hash", "7200", "FIELDS", "1", "{field}"],
            )],
            restore: &[],
        },
        floor: None,
    },
    CpuOperation {
        label: "give 10 fields an expiry in one call: EXPIRE vs HEXPIRE",
        data: &EXPIRING,
        reload: false,
        calls: 10_000,
        module: Call {
            prepare: &[&["MULTIMAP.PERSIST", "expiring", "FIELDS", "10", "{fields}"]],
            timed: &[(
                "multimap.expire",
                &[
                    "MULTIMAP.EXPIRE",
                    "expiring",
                    "7200",
                    "FIELDS",
                    "10",
                    "{fields}",
                ],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[&["HPERSIST", "expiring:hash", "FIELDS", "10", "{fields}"]],
            timed: &[(
                "hexpire",
                &[
                    "HEXPIRE",
                    "expiring:hash",
                    "7200",
                    "FIELDS",
                    "10",
                    "{fields}",
                ],
            )],
            restore: &[],
        },
        floor: None,
    },
    CpuOperation {
        label: "read 1 field's TTL: TTL vs HTTL",
        data: &EXPIRING,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.ttl",
                &["MULTIMAP.TTL", "expiring", "FIELDS", "1", "{field}"],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("httl", &["HTTL", "expiring:hash", "FIELDS", "1", "{field}"])],
            restore: &[],
        },
        floor: None,
    },
    CpuOperation {
        label: "read 10 fields' TTLs in one call: TTL vs HTTL",
        data: &EXPIRING,
        reload: false,
        calls: 10_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.ttl",
                &["MULTIMAP.TTL", "expiring", "FIELDS", "10", "{fields}"],
            )],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[(
                "httl",
                &["HTTL", "expiring:hash", "FIELDS", "10", "{fields}"],
            )],
            restore: &[],
        },
        floor: None,
    },
    CpuOperation {
        label: "remove 1 field's expiry: PERSIST vs HPERSIST",
        data: &EXPIRING,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.persist",
                &["MULTIMAP.PERSIST", "expiring", "FIELDS", "1", "{field}"],
            )],
            restore: &[&[
                "MULTIMAP.EXPIRE",
                "expiring",
                "7200",
                "FIELDS",
                "1",
                "{field}",
            ]],
        },
        native: Call {
            prepare: &[],
            timed: &[(
                "hpersist",
                &["HPERSIST", "expiring:hash", "FIELDS", "1", "{field}"],
            )],
            restore: &[&["HEXPIRE", "expiring:hash", "7200", "FIELDS", "1", "{field}"]],
        },
        floor: None,
    },
    CpuOperation {
        label: "remove 10 fields' expiries in one call: PERSIST vs HPERSIST",
        data: &EXPIRING,
        reload: false,
        calls: 10_000,
        module: Call {
            prepare: &[],
            timed: &[(
                "multimap.persist",
                &["MULTIMAP.PERSIST", "expiring", "FIELDS", "10", "{fields}"],
            )],
            restore: &[&[
                "MULTIMAP.EXPIRE",
                "expiring",
                "7200",
                "FIELDS",
                "10",
                "{fields}",
            ]],
        },
        native: Call {
            prepare: &[],
            timed: &[(
                "hpersist",
                &["HPERSIST", "expiring:hash", "FIELDS", "10", "{fields}"],
            )],
            restore: &[&[
                "HEXPIRE",
                "expiring:hash",
                "7200",
                "FIELDS",
                "10",
                "{fields}",
            ]],
        },
        floor: None,
    },
    CpuOperation {
        label: "read a one-value field that carries an expiry: GET vs HGET",
        data: &EXPIRING,
        reload: false,
        calls: 20_000,
        module: Call {
            prepare: &[],
            timed: &[("multimap.get", &["MULTIMAP.GET", "expiring", "{field}"])],
            restore: &[],
        },
        native: Call {
            prepare: &[],
            timed: &[("hget", &["HGET", "expiring:hash", "{field}"])],
            restore: &[],
        },
        floor: floor!(
            "floor.read.array",
            ["FLOOR.READ.ARRAY", "expiring", "{field}"]
        ),
    },
];

/// One operation measured by client throughput with redis-benchmark, which
/// sends a single command shape: it cannot restore data between requests, so
/// removals use a value that is absent (the whole field is still scanned),
/// and deleting fields is not measured (every request after the first per
/// field would delete nothing).
struct ThroughputOperation {
    label: &'static str,
    data: &'static Dataset,
    /// As for CpuOperation: the data grows, reload it before each run.
    reload: bool,
    requests: usize,
    module: Template,
    native: Template,
}

/// 16 bytes, like the stored values, but stored in no field.
const ABSENT_VALUE: &str = "val:absent-value";

const THROUGHPUT_OPERATIONS: &[ThroughputOperation] = &[
    ThroughputOperation {
        label: "append 1 value to a field: INSERT vs RPUSH",
        data: &APPEND,
        reload: true,
        requests: 1_000_000,
        module: &["MULTIMAP.INSERT", "append", "{field}", "{value}"],
        native: &["RPUSH", "append:{field}", "{value}"],
    },
    ThroughputOperation {
        label: "read a 100-value field: GET vs LRANGE 0 -1",
        data: &LISTS,
        reload: false,
        requests: 200_000,
        module: &["MULTIMAP.GET", "mm", "{field}"],
        native: &["LRANGE", "mm:{field}", "0", "-1"],
    },
    ThroughputOperation {
        label: "count a 100-value field: LEN vs LLEN",
        data: &LISTS,
        reload: false,
        requests: 1_000_000,
        module: &["MULTIMAP.LEN", "mm", "{field}"],
        native: &["LLEN", "mm:{field}"],
    },
    ThroughputOperation {
        label: "remove an absent value from a 100-value field: REMOVE vs LREM 0",
        data: &LISTS,
        reload: false,
        requests: 300_000,
        module: &["MULTIMAP.REMOVE", "mm", "{field}", ABSENT_VALUE],
        native: &["LREM", "mm:{field}", "0", ABSENT_VALUE],
    },
    ThroughputOperation {
        label: "set a one-value field: REPLACE vs HSET",
        data: &SINGLE,
        reload: false,
        requests: 1_000_000,
        module: &["MULTIMAP.REPLACE", "single", "{field}", "{value}"],
        native: &["HSET", "single:hash", "{field}", "{value}"],
    },
    ThroughputOperation {
        label: "read a one-value field: GET vs HGET",
        data: &SINGLE,
        reload: false,
        requests: 1_000_000,
        module: &["MULTIMAP.GET", "single", "{field}"],
        native: &["HGET", "single:hash", "{field}"],
    },
];

/// One side of the wake-up latency rows: a client blocks on an empty field
/// (or list), then another pushes one value to it.
struct Wakeup {
    block: Template,
    push: Template,
}

/// The blocked client gives up after this long (the blocking commands'
/// timeout, and its connection's read timeout), so a wake-up that never
/// comes fails the benchmark rather than hanging it.
const WAKEUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Wake-ups per side per round: enough for a 99th percentile.
const WAKEUPS: usize = 5_000;

const WAKEUP_MODULE: Wakeup = Wakeup {
    block: &["MULTIMAP.BPOP", "wakeup", "f", "LEFT", "10"],
    push: &["MULTIMAP.INSERT", "wakeup", "f", "val:000000000000"],
};
const WAKEUP_NATIVE: Wakeup = Wakeup {
    block: &["BLPOP", "wakeup:f", "10"],
    push: &["RPUSH", "wakeup:f", "val:000000000000"],
};

/// The data sets whose memory and DEBUG RELOAD time are compared.
const STORED: [Dataset; 2] = [
    Dataset {
        key: "mm",
        fields: 10_000,
        values_per_field: 100,
        native: NativeForm::Lists,
        field_expiry: false,
    },
    Dataset {
        key: "mm",
        fields: 200_000,
        values_per_field: 1,
        native: NativeForm::Hash,
        field_expiry: false,
    },
];

#[derive(Clone, Copy)]
enum Unit {
    MicrosPerCall,
    Micros,
    RequestsPerSecond,
    BytesPerValue,
    Seconds,
}

impl Unit {
    fn format(self, amount: f64) -> String {
        match self {
            Unit::MicrosPerCall => format!("{amount:.3} µs"),
            Unit::Micros => format!("{amount:.1} µs"),
            Unit::RequestsPerSecond => format!("{:.0}k req/s", amount / 1000.0),
            Unit::BytesPerValue => format!("{amount:.1} B"),
            Unit::Seconds => format!("{amount:.3} s"),
        }
    }

    /// Costs should be at most native's (ratio ≤ 1); throughput at least.
    fn higher_is_better(self) -> bool {
        matches!(self, Unit::RequestsPerSecond)
    }
}

/// One measurement per side per round, and of the module floor in the
/// rounds that measure it.
#[derive(Default)]
struct Samples {
    module: Vec<f64>,
    native: Vec<f64>,
    floor: Vec<f64>,
}

impl Samples {
    fn push(&mut self, side: Side, amount: f64) {
        match side {
            Side::Module => self.module.push(amount),
            Side::Native => self.native.push(amount),
        }
    }

    /// The ratio is the median of each round's own ratio, so a noisy round
    /// skews one pair rather than one side. The range of those ratios shows
    /// how much to trust it.
    fn into_row(self, label: String, unit: Unit) -> Row {
        let floor = (!self.floor.is_empty()).then(|| Versus::of(&self.module, self.floor));
        Row {
            label,
            unit,
            module: median(self.module.clone()),
            native: Versus::of(&self.module, self.native),
            floor,
        }
    }
}

/// The module against one other side: that side's median, and the median
/// and range of the round by round ratios module / other.
struct Versus {
    cost: f64,
    ratio: f64,
    ratio_range: (f64, f64),
}

impl Versus {
    fn of(module: &[f64], other: Vec<f64>) -> Versus {
        let ratios: Vec<f64> = module
            .iter()
            .zip(&other)
            .map(|(module, other)| module / other)
            .collect();
        let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Versus {
            cost: median(other),
            ratio: median(ratios),
            ratio_range: (lowest, highest),
        }
    }

    fn format_ratio(&self) -> String {
        format!(
            "{:.2} ({:.2}–{:.2})",
            self.ratio, self.ratio_range.0, self.ratio_range.1
        )
    }
}

/// The smallest sample at least `share` of the samples do not exceed.
fn percentile(mut samples: Vec<f64>, share: f64) -> f64 {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_by(f64::total_cmp);
    let rank = (share * samples.len() as f64).ceil() as usize;
    samples[rank.max(1) - 1]
}

fn median(mut samples: Vec<f64>) -> f64 {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_by(f64::total_cmp);
    let middle = samples.len() / 2;
    if samples.len().is_multiple_of(2) {
        (samples[middle - 1] + samples[middle]) / 2.0
    } else {
        samples[middle]
    }
}

/// Runs `measure` for module then native, ROUNDS times.
fn alternate(mut measure: impl FnMut(Side, u64) -> f64) -> Samples {
    let mut samples = Samples::default();
    for round in 0..ROUNDS {
        for side in SIDES {
            // Both sides of a round draw the same random fields.
            samples.push(side, measure(side, round as u64 + 1));
        }
    }
    samples
}

struct Row {
    label: String,
    unit: Unit,
    module: f64,
    native: Versus,
    /// Against the module floor, for the rows of O(1) commands.
    floor: Option<Versus>,
}

/// How far above its floor an O(1) command may cost.
const FLOOR_TARGET: f64 = 1.10;

impl Row {
    /// A row with a floor is held to it; the others to native.
    fn target_met(&self) -> String {
        let yes_no = |met: bool| if met { "yes" } else { "no" };
        if let Some(floor) = &self.floor {
            let met = floor.ratio <= FLOOR_TARGET;
            format!("{} (target ≤ {FLOOR_TARGET:.2}× floor)", yes_no(met))
        } else if self.unit.higher_is_better() {
            format!("{} (target ≥ 1.0)", yes_no(self.native.ratio >= 1.0))
        } else {
            format!("{} (target ≤ 1.0)", yes_no(self.native.ratio <= 1.0))
        }
    }
}

/// Replaces the placeholders of a template (see `Template`).
fn expand(
    template: Template,
    field: &str,
    value: &str,
    all_values: &[String],
    fields: &[String],
) -> Cmd {
    let mut command = redis::cmd(template[0]);
    for (position, arg) in template.iter().enumerate().skip(1) {
        if *arg == "{values}" {
            command.arg(all_values);
        } else if *arg == "{fields}" {
            assert_eq!(
                template[position - 1],
                fields.len().to_string(),
                "{{fields}} follows its count in {template:?}"
            );
            command.arg(fields);
        } else {
            command.arg(arg.replace("{field}", field).replace("{value}", value));
        }
    }
    command
}

/// Server CPU per call of one side of an operation, in microseconds, from the
/// server's own accounting in INFO commandstats (client and network costs
/// excluded).
fn server_cpu_per_call(
    con: &mut Connection,
    data: &Dataset,
    reload: Option<Side>,
    call: &Call,
    calls: usize,
    seed: u64,
) -> f64 {
    if let Some(side) = reload {
        data.clear(con, side);
        data.load(con, side);
    }
    let all_values: Vec<String> = (0..data.values_per_field).map(value_name).collect();
    let many_fields = call
        .prepare
        .iter()
        .chain(call.timed.iter().map(|(_, command)| command))
        .chain(call.restore)
        .any(|command| command.contains(&"{fields}"));
    let mut rng = Rng(seed);
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .exec(con)
        .expect("CONFIG RESETSTAT");
    let mut batch = Batch::default();
    for _ in 0..calls {
        let field = field_name(rng.below(data.fields as u64) as usize);
        let value = value_name(rng.below(data.values_per_field as u64) as usize);
        // Drawn only where a template uses them, so that the other rows draw
        // the same fields as they always have.
        let mut fields = vec![field.clone()];
        if many_fields {
            fields.extend(
                (1..FIELDS_PER_CALL).map(|_| field_name(rng.below(data.fields as u64) as usize)),
            );
        }
        let commands = call
            .prepare
            .iter()
            .chain(call.timed.iter().map(|(_, command)| command))
            .chain(call.restore);
        for command in commands {
            batch.add(con, expand(command, &field, &value, &all_values, &fields));
        }
    }
    batch.flush(con);
    let micros: u64 = call
        .timed
        .iter()
        .map(|(stat, _)| {
            let (calls_counted, micros) = command_stats(con, stat);
            assert_eq!(
                calls_counted, calls as u64,
                "cmdstat_{stat} counted other calls than the timed ones"
            );
            micros
        })
        .sum();
    micros as f64 / calls as f64
}

/// (calls, total µs) of a command since the last CONFIG RESETSTAT. The total
/// rather than the rounded `usec_per_call`, which has 2 decimals.
fn command_stats(con: &mut Connection, stat: &str) -> (u64, u64) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(con)
        .expect("INFO commandstats");
    let prefix = format!("cmdstat_{stat}:");
    let line = info
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in INFO commandstats"));
    let field = |name: &str| -> u64 {
        line.split(',')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    (field("calls"), field("usec"))
}

/// Requests per second redis-benchmark gets through for one side of an
/// operation, with its random fields.
fn throughput(con: &mut Connection, port: u16, operation: &ThroughputOperation, side: Side) -> f64 {
    let data = operation.data;
    if operation.reload {
        data.clear(con, side);
        data.load(con, side);
    }
    let template = match side {
        Side::Module => operation.module,
        Side::Native => operation.native,
    };
    // `-r` draws every __rand_int__ independently, so a `{value}` is often
    // one the field does not hold; only appends and sets use one, and they
    // write it whatever it is.
    let command = template.iter().map(|arg| {
        arg.replace("{field}", "f:__rand_int__")
            .replace("{value}", "val:__rand_int__")
    });
    let output = Command::new("redis-benchmark")
        .args(["-p", &port.to_string()])
        .args(["-n", &operation.requests.to_string()])
        .args(["-c", BENCHMARK_CLIENTS, "-P", BENCHMARK_PIPELINE])
        .args(["-r", &data.fields.to_string(), "--csv"])
        .args(command)
        .output()
        .expect("redis-benchmark (package redis-tools) could not be started");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "redis-benchmark failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The last CSV line: "command","rps","avg_latency_ms",...
    stdout
        .lines()
        .last()
        .and_then(|line| line.split(',').nth(1))
        .and_then(|rps| rps.trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("no requests per second in redis-benchmark's output: {stdout}"))
}

/// Server CPU per call of `operations`, each on its data set with `scale`
/// times the fields. Leaves an empty database.
fn cpu_rows<'o>(
    con: &mut Connection,
    operations: impl Iterator<Item = &'o CpuOperation> + Clone,
    resize: fn(Dataset) -> Dataset,
    progress: &dyn Fn(&str),
) -> Vec<Row> {
    // The data sets the operations share are loaded once, here; the others
    // are loaded afresh before each measurement.
    let mut shared: Vec<&Dataset> = Vec::new();
    for operation in operations.clone().filter(|operation| !operation.reload) {
        if !shared.iter().any(|data| data.key == operation.data.key) {
            shared.push(operation.data);
        }
    }
    for data in shared {
        for side in SIDES {
            resize(*data).load(con, side);
        }
    }
    let rows = operations
        .map(|operation| {
            let data = resize(*operation.data);
            let mut samples = Samples::default();
            for round in 0..ROUNDS {
                // Every side of a round draws the same random fields.
                let seed = round as u64 + 1;
                let reload = |side| operation.reload.then_some(side);
                let calls = operation.calls;
                let module = &operation.module;
                let cost =
                    server_cpu_per_call(con, &data, reload(Side::Module), module, calls, seed);
                samples.push(Side::Module, cost);
                if let Some(floor) = &operation.floor {
                    // On the module's data, as the module's calls left it.
                    samples
                        .floor
                        .push(server_cpu_per_call(con, &data, None, floor, calls, seed));
                }
                let native = &operation.native;
                let cost =
                    server_cpu_per_call(con, &data, reload(Side::Native), native, calls, seed);
                samples.push(Side::Native, cost);
            }
            let label = format!(
                "CPU per call, {} fields: {}",
                count(data.fields),
                operation.label
            );
            progress(&label);
            samples.into_row(label, Unit::MicrosPerCall)
        })
        .collect();
    flush_all(con);
    rows
}

fn as_defined(data: Dataset) -> Dataset {
    data
}

fn scaled_up(data: Dataset) -> Dataset {
    data.scaled(SCALE)
}

fn in_cache(data: Dataset) -> Dataset {
    data.with_fields(IN_CACHE_FIELDS)
}

/// Throughput of every operation, on the data sets as they are. Leaves an
/// empty database.
fn throughput_rows(con: &mut Connection, port: u16, progress: &dyn Fn(&str)) -> Vec<Row> {
    for data in [&LISTS, &SINGLE] {
        for side in SIDES {
            data.load(con, side);
        }
    }
    let rows = THROUGHPUT_OPERATIONS
        .iter()
        .map(|operation| {
            let samples = alternate(|side, _| throughput(con, port, operation, side));
            let label = format!("throughput: {}", operation.label);
            progress(&label);
            samples.into_row(label, Unit::RequestsPerSecond)
        })
        .collect();
    flush_all(con);
    rows
}

/// The median and 99th percentile of how long a blocked client waits for
/// its reply once a value is pushed, BPOP against BLPOP. Leaves an empty
/// database.
fn wakeup_rows(server: &Server) -> [Row; 2] {
    let mut blocked = server.connect();
    blocked
        .set_read_timeout(Some(WAKEUP_TIMEOUT))
        .expect("a read timeout for the blocked client");
    let mut pusher = server.connect();
    let mut medians = Samples::default();
    let mut tails = Samples::default();
    for _ in 0..ROUNDS {
        // Single wake-ups alternate too, module then native, so that a burst
        // of load on the shared machine lands on both sides alike; a tail
        // percentile is all bursts.
        let mut module = Vec::with_capacity(WAKEUPS);
        let mut native = Vec::with_capacity(WAKEUPS);
        for _ in 0..WAKEUPS {
            module.push(wakeup_latency(&mut blocked, &mut pusher, &WAKEUP_MODULE));
            native.push(wakeup_latency(&mut blocked, &mut pusher, &WAKEUP_NATIVE));
        }
        for (side, latencies) in [(Side::Module, module), (Side::Native, native)] {
            medians.push(side, median(latencies.clone()));
            tails.push(side, percentile(latencies, 0.99));
        }
    }
    flush_all(&mut pusher);
    let label = |statistic: &str| {
        format!(
            "wake-up latency, {statistic} of {} per round: BPOP vs BLPOP",
            count(WAKEUPS)
        )
    };
    [
        medians.into_row(label("median"), Unit::Micros),
        tails.into_row(label("p99"), Unit::Micros),
    ]
}

/// Microseconds from sending the push to the blocked client's reply. The
/// push is sent only once the server counts the client as blocked, so the
/// value always reaches a waiting client rather than an empty field.
fn wakeup_latency(blocked: &mut Connection, pusher: &mut Connection, wakeup: &Wakeup) -> f64 {
    // The previous wake-up's client may still count as blocked for a moment
    // after its reply; a new block sent then would not be waiting yet.
    wait_for_blocked_clients(pusher, 0);
    blocked
        .send_packed_command(&expand(wakeup.block, "", "", &[], &[]).get_packed_command())
        .expect("sending the blocking pop");
    wait_for_blocked_clients(pusher, 1);

    let push = expand(wakeup.push, "", "", &[], &[]).get_packed_command();
    let start = Instant::now();
    pusher.send_packed_command(&push).expect("sending the push");
    let reply = blocked.recv_response().expect("the blocked client's reply");
    let latency = start.elapsed();
    pusher.recv_response().expect("the push's reply");
    assert!(
        matches!(reply, Value::Array(ref popped) if !popped.is_empty()),
        "the blocked client got {reply:?} rather than the pushed value"
    );
    latency.as_secs_f64() * 1e6
}

fn wait_for_blocked_clients(con: &mut Connection, expected: i64) {
    let deadline = Instant::now() + WAKEUP_TIMEOUT;
    loop {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query(con)
            .expect("INFO clients");
        if info_field(&info, "blocked_clients") == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "blocked_clients never became {expected}"
        );
    }
}

/// Memory per stored value and DEBUG RELOAD time of a data set, both sides
/// loaded in turn into an otherwise empty server.
fn storage_rows(con: &mut Connection, data: &Dataset) -> [Row; 2] {
    let mut memory = Samples::default();
    let mut reload = Samples::default();
    for _ in 0..ROUNDS {
        for side in SIDES {
            flush_all(con);
            let before = data_memory(con);
            data.load(con, side);
            let after = data_memory(con);
            memory.push(side, (after - before) as f64 / data.values() as f64);

            let start = Instant::now();
            redis::cmd("DEBUG")
                .arg("RELOAD")
                .exec(con)
                .expect("DEBUG RELOAD");
            reload.push(side, start.elapsed().as_secs_f64());
            assert!(data.is_stored(con, side), "DEBUG RELOAD lost data");
        }
    }
    flush_all(con);
    let described = data.describe();
    [
        memory.into_row(
            format!("memory per value, {described}"),
            Unit::BytesPerValue,
        ),
        reload.into_row(
            format!("DEBUG RELOAD, {} values: {described}", count(data.values())),
            Unit::Seconds,
        ),
    ]
}

/// Memory per field of one-value fields without and with an expiry, what
/// the expiry adds, and DEBUG RELOAD time with the expiries: each side's
/// fields loaded into an otherwise empty server, then given their expiries.
fn expiry_storage_rows(con: &mut Connection, fields: usize) -> [Row; 4] {
    let data = Dataset {
        key: "stored",
        fields,
        values_per_field: 1,
        native: NativeForm::Hash,
        field_expiry: false,
    };
    let mut plain = Samples::default();
    let mut expiring = Samples::default();
    let mut extra = Samples::default();
    let mut reload = Samples::default();
    for _ in 0..ROUNDS {
        for side in SIDES {
            flush_all(con);
            let before = data_memory(con);
            data.load(con, side);
            let loaded = data_memory(con);
            data.set_expiries(con, side);
            let after = data_memory(con);
            let per_field = |bytes: i64| bytes as f64 / fields as f64;
            plain.push(side, per_field(loaded - before));
            expiring.push(side, per_field(after - before));
            extra.push(side, per_field(after - loaded));

            let start = Instant::now();
            redis::cmd("DEBUG")
                .arg("RELOAD")
                .exec(con)
                .expect("DEBUG RELOAD");
            reload.push(side, start.elapsed().as_secs_f64());
            assert!(data.is_stored(con, side), "DEBUG RELOAD lost data");
            let ttl = data.ttl(con, side, &field_name(fields - 1));
            assert!(ttl > 0, "DEBUG RELOAD lost an expiry: TTL {ttl}");
        }
    }
    flush_all(con);
    let fields = count(fields);
    [
        plain.into_row(
            format!("memory per field, {fields} one-value fields without expiry (vs hash)"),
            Unit::BytesPerValue,
        ),
        expiring.into_row(
            format!("memory per field, {fields} one-value fields each with an expiry (vs hash)"),
            Unit::BytesPerValue,
        ),
        extra.into_row(
            format!("memory an expiry adds to a field, {fields} fields (vs hash)"),
            Unit::BytesPerValue,
        ),
        reload.into_row(
            format!("DEBUG RELOAD, {fields} one-value fields each with an expiry (vs hash)"),
            Unit::Seconds,
        ),
    ]
}

/// Active expiry gives up on a key whose fields are not all gone by then.
const RECLAIM_TIMEOUT: Duration = Duration::from_secs(120);
/// PEXPIREAT commands that set the expiry of the active-expiry rows carry
/// this many fields each.
const EXPIRE_BATCH: usize = 1_000;

/// How active expiry copes with `fields` fields of one key all expiring at
/// the same millisecond: how long until the key is gone, the longest PING
/// round trip another client sees meanwhile, and the server's longest event
/// loop cycle (INFO debug `eventloop_duration_max`, Redis 7.2+). Leaves an
/// empty database.
fn active_expiry_rows(server: &Server, con: &mut Connection, fields: usize) -> [Row; 3] {
    let data = Dataset {
        key: "reclaim",
        fields,
        values_per_field: 1,
        native: NativeForm::Hash,
        field_expiry: false,
    };
    let mut reclaim = Samples::default();
    let mut ping = Samples::default();
    let mut cycle = Samples::default();
    for _ in 0..ROUNDS {
        for side in SIDES {
            let run = reclaim_at_once(server, con, &data, side);
            reclaim.push(side, run.seconds);
            ping.push(side, run.longest_ping_micros);
            cycle.push(side, run.longest_cycle_micros);
        }
    }
    flush_all(con);
    let label = |what: &str| {
        format!(
            "active expiry, {} fields of one key expiring at once: {what} (vs hash, HPEXPIREAT)",
            count(fields)
        )
    };
    [
        reclaim.into_row(
            label("from the expiry time until the key is gone"),
            Unit::Seconds,
        ),
        ping.into_row(
            label("longest PING round trip of another client meanwhile"),
            Unit::Micros,
        ),
        cycle.into_row(
            label("longest event loop cycle meanwhile (eventloop_duration_max)"),
            Unit::Micros,
        ),
    ]
}

struct Reclaim {
    seconds: f64,
    longest_ping_micros: f64,
    longest_cycle_micros: f64,
}

/// Another client that PINGs the server about every millisecond until
/// stopped, and keeps its longest round trip.
struct Pinger {
    pinged: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Duration>,
}

impl Pinger {
    fn start(server: &Server) -> Pinger {
        let mut con = server.connect();
        let pinged = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (pinged, stop) = (Arc::clone(&pinged), Arc::clone(&stop));
            thread::spawn(move || {
                let mut longest = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    redis::cmd("PING").exec(&mut con).expect("PING");
                    longest = longest.max(start.elapsed());
                    pinged.store(true, Ordering::Relaxed);
                    // Enough pings to see any pause longer than this, without
                    // competing with the server for the CPU.
                    thread::sleep(Duration::from_millis(1));
                }
                longest
            })
        };
        Pinger {
            pinged,
            stop,
            thread,
        }
    }

    /// Whether a PING has come back yet.
    fn has_pinged(&self) -> bool {
        self.pinged.load(Ordering::Relaxed)
    }

    /// Stops pinging; the longest round trip seen.
    fn stop(self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the pinging thread")
    }
}

fn reclaim_at_once(server: &Server, con: &mut Connection, data: &Dataset, side: Side) -> Reclaim {
    let fields: Vec<String> = (0..data.fields).map(field_name).collect();
    let key = data.single_key(side);
    // Setting the expiries takes about as long as loading the fields; should
    // the expiry time come before they are all set, start over with a later one.
    let mut margin = None;
    let at = loop {
        flush_all(con);
        let loading = Instant::now();
        data.load(con, side);
        let margin = margin.get_or_insert(loading.elapsed() + Duration::from_millis(500));
        let at = server_time_ms(con) + margin.as_millis() as u64;
        let mut batch = Batch::default();
        for chunk in fields.chunks(EXPIRE_BATCH) {
            batch.add(con, data.expire_at(side, at, chunk));
        }
        batch.flush(con);
        if server_time_ms(con) + 100 < at {
            break at;
        }
        *margin *= 2;
    };
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .exec(con)
        .expect("CONFIG RESETSTAT");

    let pinger = Pinger::start(server);
    let deadline = Instant::now() + RECLAIM_TIMEOUT;
    let gone = loop {
        let exists: bool = redis::cmd("EXISTS").arg(&key).query(con).expect("EXISTS");
        if !exists {
            break unix_time_ms();
        }
        assert!(
            Instant::now() < deadline,
            "{} fields expired at once were not all removed within {RECLAIM_TIMEOUT:?}",
            count(data.fields)
        );
        thread::sleep(Duration::from_millis(1));
    };
    let longest_ping = pinger.stop();
    assert!(
        gone >= at,
        "the key went {} ms before its fields expired",
        at - gone
    );
    let info: String = redis::cmd("INFO")
        .arg("debug")
        .query(con)
        .expect("INFO debug");
    Reclaim {
        seconds: (gone - at) as f64 / 1000.0,
        longest_ping_micros: longest_ping.as_secs_f64() * 1e6,
        longest_cycle_micros: info_field(&info, "eventloop_duration_max") as f64,
    }
}

/// The server's clock, in Unix milliseconds.
fn server_time_ms(con: &mut Connection) -> u64 {
    let (seconds, micros): (u64, u64) = redis::cmd("TIME").query(con).expect("TIME");
    seconds * 1000 + micros / 1000
}

/// This machine's clock, which the server on it shares, in Unix milliseconds.
fn unix_time_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64
}

fn flush_all(con: &mut Connection) {
    redis::cmd("FLUSHALL").exec(con).expect("FLUSHALL");
}

/// used_memory without the client buffers, which grow and shrink with the
/// pipelines that load the data rather than with the data.
fn data_memory(con: &mut Connection) -> i64 {
    // Valkey frees deleted data in the background by default.
    common::client::wait_for_lazy_frees(con);
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(con)
        .expect("INFO memory");
    info_field(&info, "used_memory") - info_field(&info, "mem_clients_normal")
}

fn info_field(info: &str, name: &str) -> i64 {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|number| number.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in INFO"))
}

/// 10000 → "10k", 1000000 → "1M".
fn count(number: usize) -> String {
    match number {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// The title, what the run is made of, and `notes` on what the rows measure.
fn print_header(con: &mut Connection, title: &str, notes: &[String]) {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(con)
        .expect("INFO server");
    // Valkey reports the Redis version it is compatible with as well.
    let version_of = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(|version| version.trim().to_owned())
    };
    let server = version_of("valkey_version").map_or_else(
        || format!("Redis {}", version_of("redis_version").unwrap_or_default()),
        |version| format!("Valkey {version}"),
    );
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|cpuinfo| {
            cpuinfo.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                (name.trim() == "model name").then(|| value.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());

    println!("# {title}");
    println!();
    println!("- date: {date}");
    println!("- server: {server}");
    println!("- machine: {cpus} CPUs, {model}");
    println!("- module: {}", common::module_path().display());
    println!(
        "- each row: medians of {ROUNDS} rounds alternating module and native; \
         the ratio is the median of each round's own ratio (lowest–highest in brackets)"
    );
    for note in notes {
        println!("- {note}");
    }
    println!();
}

fn print_table(rows: &[Row]) {
    println!("| row | module | floor | native | module/floor | module/native | target met? |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for row in rows {
        let (floor, floor_ratio) = row.floor.as_ref().map_or_else(
            || ("".to_owned(), "".to_owned()),
            |floor| (row.unit.format(floor.cost), floor.format_ratio()),
        );
        println!(
            "| {} | {} | {floor} | {} | {floor_ratio} | {} | {} |",
            row.label,
            row.unit.format(row.module),
            row.unit.format(row.native.cost),
            row.native.format_ratio(),
            row.target_met()
        );
    }
}

/// Compiles benches/floor.c, the module floor, against our c/redismodule.h
/// into the target directory, and returns the path of the shared library.
fn floor_module() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let out_dir = target.join("floor");
    std::fs::create_dir_all(&out_dir).expect("a directory for the floor module");
    let library = out_dir.join("libmultimap_floor.so");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&compiler)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Werror"])
        .arg("-I")
        .arg(root.join("c"))
        .arg(root.join("benches/floor.c"))
        .arg("-o")
        .arg(&library)
        .status()
        .unwrap_or_else(|error| panic!("{compiler} could not be started: {error}"));
    assert!(
        status.success(),
        "{compiler} failed to build benches/floor.c"
    );
    library
}

/// The argument that makes this run the field-expiry rows rather than the
/// others: they need a server with Redis's own hash-field expiry (7.4+), and
/// `make bench` runs them as a second pass, on Redis 8.2.
const FIELD_EXPIRY_ARG: &str = "field-expiry";

fn main() {
    let at_scale = std::env::var("BENCH_SCALE").map_or(true, |value| value != "0");
    let started = Instant::now();
    let progress = |label: &str| eprintln!("[{:>4.0} s] {label}", started.elapsed().as_secs_f64());

    let floor = floor_module();
    let server = Server::builder()
        .config("appendonly", "no")
        .config("loadmodule", &floor.to_string_lossy())
        .start();
    let mut con = server.connect();
    // Redis 7 allocates a latency histogram the first time each command runs,
    // which would show up in the memory deltas; Redis 6.2 has no such setting.
    let _ = redis::cmd("CONFIG")
        .arg("SET")
        .arg("latency-tracking")
        .arg("no")
        .exec(&mut con);

    let (rows, scaled_down) = if std::env::args().any(|arg| arg == FIELD_EXPIRY_ARG) {
        field_expiry_rows(&server, &mut con, at_scale, &progress)
    } else {
        other_rows(&server, &mut con, at_scale, &progress)
    };
    print_table(&rows);
    println!();
    println!(
        "Ran in {:.0} s{}.",
        started.elapsed().as_secs_f64(),
        if at_scale {
            String::new()
        } else {
            format!(" (BENCH_SCALE=0: {scaled_down})")
        }
    );
}

/// Every row but the field-expiry ones, and what BENCH_SCALE=0 leaves out.
fn other_rows(
    server: &Server,
    con: &mut Connection,
    at_scale: bool,
    progress: &dyn Fn(&str),
) -> (Vec<Row>, String) {
    print_header(
        con,
        "redis-multimap: module vs native Redis",
        &[
            format!(
                "CPU: server µs per call from INFO commandstats; throughput: redis-benchmark \
                 -c {BENCHMARK_CLIENTS} -P {BENCHMARK_PIPELINE} -r <fields>; memory: used_memory \
                 delta while loading, per 16-byte value; DEBUG RELOAD: wall time (save + load)"
            ),
            format!(
                "wake-up latency: from sending the push (INSERT vs RPUSH) to the reply of the \
                 client blocked on the empty field (BPOP vs BLPOP), {} wake-ups per side per \
                 round, one of each side in turn",
                count(WAKEUPS)
            ),
            format!(
                "floor: the CPU per call of a command of benches/floor.c (a module of its own, \
                 built by the bench) on the same key and arguments, that only opens the key, \
                 takes its value and replies with the same shape (for a write also signals the \
                 key, notifies and replicates): what any module command costs; the O(1) rows' \
                 target is at most {FLOOR_TARGET:.2}× their floor, and they run again on keys of \
                 {IN_CACHE_FIELDS} fields, which stay in the CPU's caches"
            ),
            "not measured by throughput: deleting a field (redis-benchmark sends one command \
             shape, so it cannot recreate what it deletes)"
                .to_owned(),
            format!(
                "the field-expiry rows are a second run, on a server with Redis's own hash-field \
                 expiry (`cargo bench --bench compare -- {FIELD_EXPIRY_ARG}`)"
            ),
        ],
    );
    let mut rows = cpu_rows(con, CPU_OPERATIONS.iter(), as_defined, progress);
    rows.extend(cpu_rows(con, LIST_OPERATIONS.iter(), as_defined, progress));
    rows.extend(cpu_rows(
        con,
        held_add::OPERATIONS.iter(),
        as_defined,
        progress,
    ));
    let with_floor = |operation: &&CpuOperation| operation.floor.is_some();
    rows.extend(cpu_rows(
        con,
        CPU_OPERATIONS.iter().filter(with_floor),
        in_cache,
        progress,
    ));
    rows.extend(wakeup_rows(server));
    progress("wake-up latency");
    rows.extend(throughput_rows(con, server.port, progress));
    for data in &STORED {
        rows.extend(storage_rows(con, data));
        progress(&data.describe());
    }
    if at_scale {
        rows.extend(cpu_rows(con, CPU_OPERATIONS.iter(), scaled_up, progress));
        for data in &STORED {
            let data = data.scaled(SCALE);
            rows.extend(storage_rows(con, &data));
            progress(&data.describe());
        }
    }
    let (big_key_rows, big_keys_scaled) = big_keys::rows(server, con, at_scale, progress);
    rows.extend(big_key_rows);
    (
        rows,
        format!("rows at 10× the fields skipped, {big_keys_scaled}"),
    )
}

/// Fields of the memory rows with expiry (as the one-value rows of STORED).
const EXPIRY_STORED_FIELDS: usize = 200_000;
/// Fields of one key expiring at once in the active-expiry rows, and how many
/// with BENCH_SCALE=0.
const RECLAIMED_FIELDS: usize = 1_000_000;
const RECLAIMED_FIELDS_SCALED_DOWN: usize = 100_000;

/// The field-expiry rows, module against Redis's own hash-field expiry on
/// the same server, and what BENCH_SCALE=0 leaves out.
fn field_expiry_rows(
    server: &Server,
    con: &mut Connection,
    at_scale: bool,
    progress: &dyn Fn(&str),
) -> (Vec<Row>, String) {
    let hexpire: Value = redis::cmd("COMMAND")
        .arg(&["INFO", "HEXPIRE"])
        .query(con)
        .expect("COMMAND INFO");
    assert!(
        matches!(hexpire, Value::Array(ref info) if info.iter().all(|entry| *entry != Value::Nil)),
        "the field-expiry rows compare with HEXPIRE, which this server lacks (Redis 7.4+ has it; \
         `make bench` runs them on Redis 8.2)"
    );
    let reclaimed = if at_scale {
        RECLAIMED_FIELDS
    } else {
        RECLAIMED_FIELDS_SCALED_DOWN
    };
    print_header(
        con,
        "redis-multimap field expiration: module vs Redis's own hash-field expiry",
        &[
            format!(
                "CPU: server µs per call from INFO commandstats, on a key of {} one-value \
                 fields that each expire 1–2 h ahead, against a hash whose fields do the same",
                count(EXPIRING.fields)
            ),
            "memory: used_memory delta while loading one-value fields, then while giving each \
             its own expiry (PEXPIREAT vs HPEXPIREAT, one field per call); DEBUG RELOAD: wall \
             time (save + load) with those expiries"
                .to_owned(),
            format!(
                "active expiry: every field of one key given the same expiry time (PEXPIREAT vs \
                 HPEXPIREAT, {} fields per call); from that time on, EXISTS every ms until the key \
                 is gone, while another client sends a PING every ms; eventloop_duration_max of \
                 INFO debug counts from the moment the expiries are set (CONFIG RESETSTAT); \
                 issue 12 bounds the module's longest PING at 10 ms",
                count(EXPIRE_BATCH)
            ),
        ],
    );
    let mut rows = cpu_rows(con, EXPIRY_OPERATIONS.iter(), as_defined, progress);
    rows.extend(expiry_storage_rows(con, EXPIRY_STORED_FIELDS));
    progress("memory with expiry");
    rows.extend(active_expiry_rows(server, con, reclaimed));
    progress("active expiry");
    if at_scale {
        rows.extend(cpu_rows(con, EXPIRY_OPERATIONS.iter(), scaled_up, progress));
        rows.extend(expiry_storage_rows(con, EXPIRY_STORED_FIELDS * SCALE));
        progress("memory with expiry, 10× the fields");
    }
    let scaled_down = format!(
        "rows at 10× the fields skipped, active expiry of {} fields rather than {}",
        count(RECLAIMED_FIELDS_SCALED_DOWN),
        count(RECLAIMED_FIELDS)
    );
    (rows, scaled_down)
}
