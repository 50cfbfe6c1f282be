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
//! The per-call CPU, memory and DEBUG RELOAD rows run again with 10× the
//! fields, to show how costs grow with the data; `BENCH_SCALE=0` skips them.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::Instant;

use common::{Rng, Server};
use redis::{Cmd, Connection, Pipeline};

/// Rounds of (module, native) measurements; each row reports medians.
const ROUNDS: usize = 5;
/// How many times more fields the scaled-up rows hold.
const SCALE: usize = 10;
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

    fn describe(&self) -> String {
        let native = match self.native {
            NativeForm::Lists => "lists",
            NativeForm::Hash => "hash",
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

    fn load(&self, con: &mut Connection, side: Side) {
        assert!(
            matches!(self.native, NativeForm::Lists) || self.values_per_field == 1,
            "a hash holds one value per field"
        );
        let values: Vec<String> = (0..self.values_per_field).map(value_name).collect();
        let mut batch = Batch::default();
        for field in (0..self.fields).map(field_name) {
            let mut command = match (side, self.native) {
                (Side::Module, _) => redis::cmd("MULTIMAP.INSERT")
                    .arg(self.key)
                    .arg(&field)
                    .clone(),
                (Side::Native, NativeForm::Lists) => {
                    redis::cmd("RPUSH").arg(self.list_key(&field)).clone()
                }
                (Side::Native, NativeForm::Hash) => {
                    redis::cmd("HSET").arg(self.hash_key()).arg(&field).clone()
                }
            };
            command.arg(&values);
            batch.add(con, command);
        }
        batch.flush(con);
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
};
const APPEND: Dataset = Dataset {
    key: "append",
    fields: 10_000,
    values_per_field: 1,
    native: NativeForm::Lists,
};
const SINGLE: Dataset = Dataset {
    key: "single",
    fields: 10_000,
    values_per_field: 1,
    native: NativeForm::Hash,
};

/// Command templates: `{field}` stands for a random field of the data set,
/// `{value}` for a random one of its values, and an argument `{values}` for
/// all the values a field holds.
type Template = &'static [&'static str];

/// One side of an operation measured by server CPU per call.
struct Call {
    /// The timed command's entry in INFO commandstats (`cmdstat_<stat>`).
    stat: &'static str,
    command: Template,
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
}

const CPU_OPERATIONS: &[CpuOperation] = &[
    CpuOperation {
        label: "append 1 value to a field: INSERT vs RPUSH",
        data: &APPEND,
        reload: true,
        calls: 50_000,
        module: Call {
            stat: "multimap.insert",
            command: &["MULTIMAP.INSERT", "append", "{field}", "{value}"],
            restore: &[],
        },
        native: Call {
            stat: "rpush",
            command: &["RPUSH", "append:{field}", "{value}"],
            restore: &[],
        },
    },
    CpuOperation {
        label: "read a 100-value field: GET vs LRANGE 0 -1",
        data: &LISTS,
        reload: false,
        calls: 20_000,
        module: Call {
            stat: "multimap.get",
            command: &["MULTIMAP.GET", "mm", "{field}"],
            restore: &[],
        },
        native: Call {
            stat: "lrange",
            command: &["LRANGE", "mm:{field}", "0", "-1"],
            restore: &[],
        },
    },
    CpuOperation {
        label: "count a 100-value field: LEN vs LLEN",
        data: &LISTS,
        reload: false,
        calls: 50_000,
        module: Call {
            stat: "multimap.len",
            command: &["MULTIMAP.LEN", "mm", "{field}"],
            restore: &[],
        },
        native: Call {
            stat: "llen",
            command: &["LLEN", "mm:{field}"],
            restore: &[],
        },
    },
    CpuOperation {
        label: "remove 1 value from a 100-value field: REMOVE vs LREM 0",
        data: &LISTS,
        reload: false,
        calls: 20_000,
        module: Call {
            stat: "multimap.remove",
            command: &["MULTIMAP.REMOVE", "mm", "{field}", "{value}"],
            restore: &[&["MULTIMAP.INSERT", "mm", "{field}", "{value}"]],
        },
        native: Call {
            stat: "lrem",
            command: &["LREM", "mm:{field}", "0", "{value}"],
            restore: &[&["RPUSH", "mm:{field}", "{value}"]],
        },
    },
    CpuOperation {
        label: "delete a 100-value field: DEL field vs DEL list",
        data: &LISTS,
        reload: false,
        calls: 10_000,
        module: Call {
            stat: "multimap.del",
            command: &["MULTIMAP.DEL", "mm", "{field}"],
            restore: &[&["MULTIMAP.INSERT", "mm", "{field}", "{values}"]],
        },
        native: Call {
            stat: "del",
            command: &["DEL", "mm:{field}"],
            restore: &[&["RPUSH", "mm:{field}", "{values}"]],
        },
    },
    CpuOperation {
        label: "set a one-value field: REPLACE vs HSET",
        data: &SINGLE,
        reload: false,
        calls: 50_000,
        module: Call {
            stat: "multimap.replace",
            command: &["MULTIMAP.REPLACE", "single", "{field}", "{value}"],
            restore: &[],
        },
        native: Call {
            stat: "hset",
            command: &["HSET", "single:hash", "{field}", "{value}"],
            restore: &[],
        },
    },
    CpuOperation {
        label: "read a one-value field: GET vs HGET",
        data: &SINGLE,
        reload: false,
        calls: 50_000,
        module: Call {
            stat: "multimap.get",
            command: &["MULTIMAP.GET", "single", "{field}"],
            restore: &[],
        },
        native: Call {
            stat: "hget",
            command: &["HGET", "single:hash", "{field}"],
            restore: &[],
        },
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

/// The data sets whose memory and DEBUG RELOAD time are compared.
const STORED: [Dataset; 2] = [
    Dataset {
        key: "mm",
        fields: 10_000,
        values_per_field: 100,
        native: NativeForm::Lists,
    },
    Dataset {
        key: "mm",
        fields: 200_000,
        values_per_field: 1,
        native: NativeForm::Hash,
    },
];

#[derive(Clone, Copy)]
enum Unit {
    MicrosPerCall,
    RequestsPerSecond,
    BytesPerValue,
    Seconds,
}

impl Unit {
    fn format(self, amount: f64) -> String {
        match self {
            Unit::MicrosPerCall => format!("{amount:.3} µs"),
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

/// One measurement per side per round.
#[derive(Default)]
struct Samples {
    module: Vec<f64>,
    native: Vec<f64>,
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
        let ratios: Vec<f64> = self
            .module
            .iter()
            .zip(&self.native)
            .map(|(module, native)| module / native)
            .collect();
        let lowest = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Row {
            label,
            unit,
            module: median(self.module),
            native: median(self.native),
            ratio: median(ratios),
            ratio_range: (lowest, highest),
        }
    }
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
    native: f64,
    ratio: f64,
    ratio_range: (f64, f64),
}

impl Row {
    fn target_met(&self) -> String {
        if self.unit.higher_is_better() {
            let met = if self.ratio >= 1.0 { "yes" } else { "no" };
            format!("{met} (target ≥ 1.0)")
        } else {
            let met = if self.ratio <= 1.0 { "yes" } else { "no" };
            format!("{met} (target ≤ 1.0)")
        }
    }
}

/// Replaces the placeholders of a template (see `Template`).
fn expand(template: Template, field: &str, value: &str, all_values: &[String]) -> Cmd {
    let mut command = redis::cmd(template[0]);
    for arg in &template[1..] {
        if *arg == "{values}" {
            command.arg(all_values);
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
    operation: &CpuOperation,
    data: &Dataset,
    side: Side,
    seed: u64,
) -> f64 {
    if operation.reload {
        data.clear(con, side);
        data.load(con, side);
    }
    let call = match side {
        Side::Module => &operation.module,
        Side::Native => &operation.native,
    };
    let all_values: Vec<String> = (0..data.values_per_field).map(value_name).collect();
    let mut rng = Rng(seed);
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .exec(con)
        .expect("CONFIG RESETSTAT");
    let mut batch = Batch::default();
    for _ in 0..operation.calls {
        let field = field_name(rng.below(data.fields as u64) as usize);
        let value = value_name(rng.below(data.values_per_field as u64) as usize);
        batch.add(con, expand(call.command, &field, &value, &all_values));
        for restore in call.restore {
            batch.add(con, expand(restore, &field, &value, &all_values));
        }
    }
    batch.flush(con);
    let (calls, micros) = command_stats(con, call.stat);
    assert_eq!(
        calls, operation.calls as u64,
        "cmdstat_{} counted other calls than the timed ones",
        call.stat
    );
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

/// Server CPU per call of every operation, on its data set with `scale`
/// times the fields. Leaves an empty database.
fn cpu_rows(con: &mut Connection, scale: usize, progress: &dyn Fn(&str)) -> Vec<Row> {
    for data in [&LISTS, &SINGLE] {
        for side in SIDES {
            data.scaled(scale).load(con, side);
        }
    }
    let rows = CPU_OPERATIONS
        .iter()
        .map(|operation| {
            let data = operation.data.scaled(scale);
            let samples =
                alternate(|side, seed| server_cpu_per_call(con, operation, &data, side, seed));
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

fn flush_all(con: &mut Connection) {
    redis::cmd("FLUSHALL").exec(con).expect("FLUSHALL");
}

/// used_memory without the client buffers, which grow and shrink with the
/// pipelines that load the data rather than with the data.
fn data_memory(con: &mut Connection) -> i64 {
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

fn print_header(con: &mut Connection) {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(con)
        .expect("INFO server");
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .trim()
        .to_owned();
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

    println!("# redis-multimap: module vs native Redis");
    println!();
    println!("- date: {date}");
    println!("- Redis: {version}");
    println!("- machine: {cpus} CPUs, {model}");
    println!("- module: {}", common::module_path().display());
    println!(
        "- each row: medians of {ROUNDS} rounds alternating module and native; \
         the ratio is the median of each round's own ratio (lowest–highest in brackets)"
    );
    println!(
        "- CPU: server µs per call from INFO commandstats; throughput: redis-benchmark \
         -c {BENCHMARK_CLIENTS} -P {BENCHMARK_PIPELINE} -r <fields>; memory: used_memory \
         delta while loading, per 16-byte value; DEBUG RELOAD: wall time (save + load)"
    );
    println!(
        "- not measured by throughput: deleting a field (redis-benchmark sends one command \
         shape, so it cannot recreate what it deletes)"
    );
    println!();
}

fn print_table(rows: &[Row]) {
    println!("| row | module | native | ratio (module/native) | target met? |");
    println!("|---|---:|---:|---:|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {:.2} ({:.2}–{:.2}) | {} |",
            row.label,
            row.unit.format(row.module),
            row.unit.format(row.native),
            row.ratio,
            row.ratio_range.0,
            row.ratio_range.1,
            row.target_met()
        );
    }
}

fn main() {
    let at_scale = std::env::var("BENCH_SCALE").map_or(true, |value| value != "0");
    let started = Instant::now();
    let progress = |label: &str| eprintln!("[{:>4.0} s] {label}", started.elapsed().as_secs_f64());

    let server = Server::builder().config("appendonly", "no").start();
    let mut con = server.connect();
    // Redis 7 allocates a latency histogram the first time each command runs,
    // which would show up in the memory deltas; Redis 6.2 has no such setting.
    let _ = redis::cmd("CONFIG")
        .arg("SET")
        .arg("latency-tracking")
        .arg("no")
        .exec(&mut con);
    print_header(&mut con);

    let mut rows = cpu_rows(&mut con, 1, &progress);
    rows.extend(throughput_rows(&mut con, server.port, &progress));
    for data in &STORED {
        rows.extend(storage_rows(&mut con, data));
        progress(&data.describe());
    }
    if at_scale {
        rows.extend(cpu_rows(&mut con, SCALE, &progress));
        for data in &STORED {
            let data = data.scaled(SCALE);
            rows.extend(storage_rows(&mut con, &data));
            progress(&data.describe());
        }
    }
    print_table(&rows);
    println!();
    println!(
        "Ran in {:.0} s{}.",
        started.elapsed().as_secs_f64(),
        if at_scale {
            ""
        } else {
            " (BENCH_SCALE=0: rows at 10× the fields skipped)"
        }
    );
}
