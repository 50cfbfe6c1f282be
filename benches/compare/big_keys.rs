//! Big keys: one MultiMap key holding millions of values against the native
//! form of the same data, module and native on the same server (or, where a
//! row restarts or rewrites, on servers of their own started alike): reading
//! it all at once, scanning it, saving and loading it, rewriting the AOF, and
//! deleting it while another client waits.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use redis::{Connection, Value};
use tempfile::TempDir;

use super::common::{base_aof_path, Server, Wire};
use super::{
    command_stats, count, flush_all, info_field, value_name, Batch, Dataset, NativeForm, Pinger,
    Row, Samples, Side, Unit, ROUNDS, SIDES,
};

/// How big the big keys are.
struct Sizes {
    /// One-value fields of the key GETALL reads whole (and the larger key SCAN walks).
    getall_fields: usize,
    /// One-value fields of the smaller key SCAN walks: the per-call cost must
    /// not grow from this to `getall_fields`.
    small_scan_fields: usize,
    /// 100-value fields of the data saved, restarted from and rewritten.
    persisted_fields: usize,
    /// Values of the key UNLINK deletes.
    unlinked_values: usize,
}

const FULL: Sizes = Sizes {
    getall_fields: 1_000_000,
    small_scan_fields: 10_000,
    persisted_fields: 100_000,
    unlinked_values: 4_000_000,
};

/// With BENCH_SCALE=0, or when memory is short.
const REDUCED: Sizes = Sizes {
    getall_fields: 100_000,
    small_scan_fields: 10_000,
    persisted_fields: 10_000,
    unlinked_values: 400_000,
};

/// Values per field of the persisted data, as in the DEBUG RELOAD rows.
const PERSISTED_VALUES_PER_FIELD: usize = 100;
/// Values per field of the many-value key UNLINK deletes.
const UNLINKED_VALUES_PER_FIELD: usize = 100;

/// A generous bound on what one value costs while the largest set (the
/// one-value fields UNLINK deletes) is in memory: the stored field, its DUMP
/// payload held by this program, and the server's copy of that payload.
const BYTES_PER_VALUE_BOUND: u64 = 200;
/// Left free for everything else on the machine.
const MEMORY_MARGIN: u64 = 1 << 30;

/// GETALL / HGETALL calls per measurement.
const GETALL_CALLS: usize = 3;
/// The COUNT of the SCAN rows, HSCAN's default.
const SCAN_COUNT: &str = "10";
/// How often the rows that wait for the server look again.
const POLL: Duration = Duration::from_millis(1);
/// The AOF servers' cron rate (at most 500): the parent learns that the
/// rewriting child is done in its cron, so this bounds how late it notices.
const AOF_SERVER_HZ: &str = "500";
/// A rewrite or a lazy free taking longer than this fails the benchmark.
const WAIT_TIMEOUT: Duration = Duration::from_secs(300);

/// The big-key rows, and what was scaled down (with BENCH_SCALE=0, or for
/// lack of memory, which is printed when it happens).
pub(super) fn rows(
    server: &Server,
    con: &mut Connection,
    at_scale: bool,
    progress: &dyn Fn(&str),
) -> (Vec<Row>, String) {
    let sizes = if at_scale && enough_memory(&FULL) {
        &FULL
    } else {
        &REDUCED
    };
    let mut rows = Vec::new();
    rows.extend(getall_and_scan_rows(server, con, sizes, progress));
    rows.extend(restart_and_rewrite_rows(server, con, sizes, progress));
    rows.extend(unlink_rows(server, con, sizes, progress));
    let scaled = format!(
        "big keys of {} rather than {} values, {} rather than {} fields",
        count(sizes.unlinked_values),
        count(FULL.unlinked_values),
        count(sizes.getall_fields),
        count(FULL.getall_fields)
    );
    (rows, scaled)
}

/// Whether MemAvailable holds both sides of the largest set, plus a margin;
/// prints why not when it does not.
fn enough_memory(sizes: &Sizes) -> bool {
    let available = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| {
            meminfo.lines().find_map(|line| {
                let kb = line.strip_prefix("MemAvailable:")?.trim();
                kb.strip_suffix("kB")?.trim().parse::<u64>().ok()
            })
        })
        .map(|kb| kb * 1024);
    let needed = 2 * sizes.unlinked_values as u64 * BYTES_PER_VALUE_BOUND + MEMORY_MARGIN;
    match available {
        Some(available) if available >= needed => true,
        available => {
            let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
            println!(
                "Big-key rows scaled down ÷10: MemAvailable {} is short of the {:.1} GiB both \
                 sides of {} values need.",
                available.map_or("unknown".to_owned(), |bytes| format!(
                    "{:.1} GiB",
                    gib(bytes)
                )),
                gib(needed),
                count(sizes.unlinked_values)
            );
            println!();
            false
        }
    }
}

/// One-value fields in one MultiMap key and in one hash.
fn one_value_fields(key: &'static str, fields: usize) -> Dataset {
    Dataset {
        key,
        fields,
        values_per_field: 1,
        native: NativeForm::Hash,
        field_expiry: false,
    }
}

/// GETALL vs HGETALL on the big key, by server CPU and by the wall time
/// a client waits for the whole reply; SCAN COUNT 10 vs HSCAN COUNT 10 by
/// server CPU per call, on a small and on the big key. Leaves an empty database.
fn getall_and_scan_rows(
    server: &Server,
    con: &mut Connection,
    sizes: &Sizes,
    progress: &dyn Fn(&str),
) -> Vec<Row> {
    let mut rows = Vec::new();
    let small = one_value_fields("scanned", sizes.small_scan_fields);
    let big = one_value_fields("big", sizes.getall_fields);
    for data in [&small, &big] {
        for side in SIDES {
            data.load(con, side);
        }
    }
    for data in [&small, &big] {
        let mut cpu = Samples::default();
        for _ in 0..ROUNDS {
            for side in SIDES {
                cpu.push(side, scan_cpu_per_call(con, data, side));
            }
        }
        rows.push(cpu.into_row(
            format!(
                "big key, {} one-value fields: CPU per SCAN COUNT {SCAN_COUNT} call over a whole \
                 iteration (vs HSCAN COUNT {SCAN_COUNT}, hash; a call's work does not grow with the \
                 key, only its cache misses do from {} to {} fields)",
                count(data.fields),
                count(small.fields),
                count(big.fields)
            ),
            Unit::MicrosPerCall,
        ));
        progress(&format!("SCAN, {} fields", count(data.fields)));
    }

    let mut wire = Wire::connect(server);
    let mut cpu = Samples::default();
    let mut wall = Samples::default();
    for _ in 0..ROUNDS {
        for side in SIDES {
            let (cpu_micros, wall_seconds) = getall(con, &mut wire, &big, side);
            cpu.push(side, cpu_micros);
            wall.push(side, wall_seconds);
        }
    }
    let label = |what: &str| {
        format!(
            "big key, {} one-value fields: {what} of GETALL (vs HGETALL, hash)",
            count(big.fields)
        )
    };
    rows.push(cpu.into_row(label("server CPU per call"), Unit::MicrosPerCall));
    rows.push(wall.into_row(
        label("client wall time per call, to the last byte"),
        Unit::Seconds,
    ));
    progress(&format!("GETALL, {} fields", count(big.fields)));
    flush_all(con);
    rows
}

/// Server µs per SCAN (or HSCAN) call over one whole iteration, from cursor
/// 0 back to 0, which must return every field.
fn scan_cpu_per_call(con: &mut Connection, data: &Dataset, side: Side) -> f64 {
    let (command, stat) = match side {
        Side::Module => ("MULTIMAP.SCAN", "multimap.scan"),
        Side::Native => ("HSCAN", "hscan"),
    };
    let key = data.single_key(side);
    reset_stats(con);
    let mut cursor = "0".to_owned();
    let mut calls = 0;
    let mut returned = 0;
    loop {
        let reply: Value = redis::cmd(command)
            .arg(&key)
            .arg(&cursor)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query(con)
            .unwrap_or_else(|error| panic!("{command}: {error}"));
        calls += 1;
        let Value::Array(parts) = reply else {
            panic!("{command} replied {reply:?}");
        };
        let [Value::BulkString(next), Value::Array(found)] = parts.as_slice() else {
            panic!("{command} replied {parts:?}");
        };
        returned += found.len() / 2;
        cursor = String::from_utf8(next.clone()).expect("a decimal cursor");
        if cursor == "0" {
            break;
        }
    }
    assert!(
        returned >= data.fields,
        "{command} returned {returned} of {} fields",
        data.fields
    );
    let (counted, micros) = command_stats(con, stat);
    assert_eq!(counted, calls, "cmdstat_{stat} counted other calls");
    micros as f64 / calls as f64
}

/// (server µs, client seconds) per GETALL (or HGETALL) call, the reply read
/// to its last byte without building anything from it.
fn getall(con: &mut Connection, wire: &mut Wire, data: &Dataset, side: Side) -> (f64, f64) {
    let (command, stat): (&[u8], _) = match side {
        Side::Module => (b"MULTIMAP.GETALL", "multimap.getall"),
        Side::Native => (b"HGETALL", "hgetall"),
    };
    let key = data.single_key(side);
    // Field and value (RESP2: a flat array), the module's values an array.
    let expected_start = format!("*{}\r\n", 2 * data.fields).into_bytes();
    reset_stats(con);
    let start = Instant::now();
    for _ in 0..GETALL_CALLS {
        let reply = wire.call(&[command, key.as_bytes()]);
        assert!(
            reply.starts_with(&expected_start),
            "{} replied {:?}...",
            String::from_utf8_lossy(command),
            String::from_utf8_lossy(&reply[..reply.len().min(40)])
        );
    }
    let seconds = start.elapsed().as_secs_f64() / GETALL_CALLS as f64;
    let (calls, micros) = command_stats(con, stat);
    assert_eq!(
        calls, GETALL_CALLS as u64,
        "cmdstat_{stat} counted other calls"
    );
    (micros as f64 / GETALL_CALLS as f64, seconds)
}

fn reset_stats(con: &mut Connection) {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .exec(con)
        .expect("CONFIG RESETSTAT");
}

/// The persisted data: 100-value fields in one MultiMap key, against one
/// list per field, as in the DEBUG RELOAD rows (which already time the
/// reload of this data at scale).
fn persisted(sizes: &Sizes) -> Dataset {
    Dataset {
        key: "persisted",
        fields: sizes.persisted_fields,
        values_per_field: PERSISTED_VALUES_PER_FIELD,
        native: NativeForm::Lists,
        field_expiry: false,
    }
}

/// Restarting from an RDB, and rewriting the AOF without an RDB preamble,
/// each side on servers of its own started from its own RDB. Leaves an
/// empty database.
fn restart_and_rewrite_rows(
    server: &Server,
    con: &mut Connection,
    sizes: &Sizes,
    progress: &dyn Fn(&str),
) -> Vec<Row> {
    let data = persisted(sizes);
    let rdbs = TempDir::new().expect("temp dir");
    let rdb = |side: Side| -> PathBuf {
        rdbs.path().join(match side {
            Side::Module => "module.rdb",
            Side::Native => "native.rdb",
        })
    };
    for side in SIDES {
        flush_all(con);
        data.load(con, side);
        redis::cmd("SAVE").exec(con).expect("SAVE");
        std::fs::copy(server.dir.path().join("dump.rdb"), rdb(side)).expect("copying dump.rdb");
    }
    flush_all(con);
    progress(&format!("saved {}", data.describe()));

    let mut restart = Samples::default();
    let mut loading = Samples::default();
    for _ in 0..ROUNDS {
        for side in SIDES {
            let (wall, logged) = restart_from(&rdb(side), &data, side);
            restart.push(side, wall);
            loading.push(side, logged);
        }
    }
    let values = count(data.values());
    let described = data.describe();
    let mut rows = vec![
        restart.into_row(
            format!(
                "restart from an RDB of {values} values: from starting redis-server until it \
                 answers PING (polled every 20 ms), {described}"
            ),
            Unit::Seconds,
        ),
        loading.into_row(
            format!(
                "restart from an RDB of {values} values: the server's own \"DB loaded from \
                 disk\" time, {described}"
            ),
            Unit::Seconds,
        ),
    ];
    progress("restart from RDB");

    let mut aof_servers = SIDES.map(|side| aof_server(&rdb(side), &data, side));
    let mut rewrite = Samples::default();
    let mut size = Samples::default();
    for _ in 0..ROUNDS {
        for (side, (server, con)) in SIDES.into_iter().zip(aof_servers.iter_mut()) {
            let (seconds, bytes) = rewrite_aof(server, con);
            rewrite.push(side, seconds);
            size.push(side, bytes as f64 / data.values() as f64);
        }
    }
    rows.push(rewrite.into_row(
        format!(
            "BGREWRITEAOF of {values} values (no RDB preamble): until the rewrite is done \
             (hz {AOF_SERVER_HZ}), {described}"
        ),
        Unit::Seconds,
    ));
    rows.push(size.into_row(
        format!("AOF size per value after BGREWRITEAOF (no RDB preamble), {described}"),
        Unit::BytesPerValue,
    ));
    progress("BGREWRITEAOF");
    rows
}

/// (wall seconds until a server started on `rdb` answers PING, seconds its
/// log says loading took).
fn restart_from(rdb: &Path, data: &Dataset, side: Side) -> (f64, f64) {
    let builder = Server::builder().loading_rdb(rdb);
    let start = Instant::now();
    let restarted = builder.start();
    let wall = start.elapsed().as_secs_f64();
    let mut con = restarted.connect();
    assert!(data.is_stored(&mut con, side), "the restart lost data");
    let log = restarted.log_text();
    let logged = log
        .lines()
        .find_map(|line| {
            let (_, rest) = line.split_once("DB loaded from disk: ")?;
            rest.strip_suffix(" seconds")?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no \"DB loaded from disk\" in the log:\n{log}"));
    (wall, logged)
}

/// A server started on `rdb` with the AOF turned on afterwards (no RDB
/// preamble; the first rewrite, which turning it on starts, done), and a
/// connection to it.
fn aof_server(rdb: &Path, data: &Dataset, side: Side) -> (Server, Connection) {
    let server = Server::builder()
        .loading_rdb(rdb)
        .config("aof-use-rdb-preamble", "no")
        .config("auto-aof-rewrite-percentage", "0")
        .config("hz", AOF_SERVER_HZ)
        .start();
    let mut con = server.connect();
    assert!(data.is_stored(&mut con, side), "loading the RDB lost data");
    redis::cmd("CONFIG")
        .arg(&["SET", "appendonly", "yes"])
        .exec(&mut con)
        .expect("CONFIG SET appendonly yes");
    super::common::client::wait_for_aof_rewrite(&mut con);
    (server, con)
}

/// (seconds from BGREWRITEAOF until the server is done with the rewrite,
/// bytes of the file it wrote).
fn rewrite_aof(server: &Server, con: &mut Connection) -> (f64, u64) {
    let start = Instant::now();
    redis::cmd("BGREWRITEAOF").exec(con).expect("BGREWRITEAOF");
    super::common::client::wait_for_aof_rewrite(con);
    let seconds = start.elapsed().as_secs_f64();
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query(con)
        .expect("INFO persistence");
    assert!(
        info.contains("aof_last_bgrewrite_status:ok"),
        "the AOF rewrite failed: {info}"
    );
    let base = base_aof_path(server.dir.path());
    let bytes = std::fs::metadata(&base)
        .unwrap_or_else(|error| panic!("{}: {error}", base.display()))
        .len();
    (seconds, bytes)
}

/// A key's content as DUMP serialised it, put back with RESTORE before each
/// UNLINK (much faster than loading it command by command).
struct Dumped {
    key: String,
    payload: Vec<u8>,
}

impl Dumped {
    fn take(con: &mut Connection, key: String) -> Dumped {
        let payload: Vec<u8> = redis::cmd("DUMP").arg(&key).query(con).expect("DUMP");
        redis::cmd("DEL").arg(&key).exec(con).expect("DEL");
        Dumped { key, payload }
    }

    fn restore(&self, con: &mut Connection) {
        redis::cmd("RESTORE")
            .arg(&self.key)
            .arg(0)
            .arg(&self.payload)
            .exec(con)
            .expect("RESTORE");
    }
}

/// The longest pause another client sees while UNLINK deletes a big key, and
/// UNLINK's own time: many-value fields against one list of the same
/// values, one-value fields against one hash. Leaves an empty database.
fn unlink_rows(
    server: &Server,
    con: &mut Connection,
    sizes: &Sizes,
    progress: &dyn Fn(&str),
) -> Vec<Row> {
    let values = sizes.unlinked_values;
    let many = Dataset {
        key: "unlinked",
        fields: values / UNLINKED_VALUES_PER_FIELD,
        values_per_field: UNLINKED_VALUES_PER_FIELD,
        native: NativeForm::Lists,
        field_expiry: false,
    };
    many.load(con, Side::Module);
    let module = Dumped::take(con, many.key.to_owned());
    // The same values in the same order, in one list.
    let list = format!("{}:list", many.key);
    let field_values: Vec<String> = (0..many.values_per_field).map(value_name).collect();
    let mut batch = Batch::default();
    for _ in 0..many.fields {
        batch.add(
            con,
            redis::cmd("RPUSH").arg(&list).arg(&field_values).clone(),
        );
    }
    batch.flush(con);
    let native = Dumped::take(con, list);
    let mut rows = Vec::from(unlink_pair(
        server,
        con,
        [&module, &native],
        &format!(
            "{} fields × {} values (vs one list of the same {} values)",
            count(many.fields),
            many.values_per_field,
            count(values)
        ),
    ));
    progress("UNLINK of many-value fields");

    let single = one_value_fields("unlinked", values);
    for side in SIDES {
        single.load(con, side);
    }
    let module = Dumped::take(con, single.single_key(Side::Module));
    let native = Dumped::take(con, single.single_key(Side::Native));
    rows.extend(unlink_pair(
        server,
        con,
        [&module, &native],
        &format!("{} one-value fields (vs hash)", count(values)),
    ));
    progress("UNLINK of one-value fields");
    flush_all(con);
    rows
}

/// The UNLINK rows of one pair of keys (module, native): the longest pause
/// another client sees, UNLINK's own time, and how long the lazy-free thread
/// takes.
fn unlink_pair(
    server: &Server,
    con: &mut Connection,
    keys: [&Dumped; 2],
    described: &str,
) -> [Row; 3] {
    let mut pause = Samples::default();
    let mut call = Samples::default();
    let mut freeing = Samples::default();
    let mut in_background = [true, true];
    for _ in 0..ROUNDS {
        for (index, side) in SIDES.into_iter().enumerate() {
            let run = unlink(server, con, keys[index]);
            pause.push(side, run.longest_ping_micros);
            call.push(side, run.unlink_micros);
            freeing.push(side, run.freed_after_micros);
            in_background[index] &= run.in_background;
        }
    }
    let freed = |lazily: bool| {
        if lazily {
            "in the background"
        } else {
            "NOT in the background"
        }
    };
    let label = |what: &str| {
        format!(
            "UNLINK of {described}: {what} (module freed {}, native {})",
            freed(in_background[0]),
            freed(in_background[1])
        )
    };
    [
        pause.into_row(
            label("longest PING round trip of another client until the memory is freed"),
            Unit::Micros,
        ),
        call.into_row(
            label("the UNLINK call's own server time (commandstats)"),
            Unit::Micros,
        ),
        freeing.into_row(
            label("from UNLINK until the memory is freed (lazyfree_pending_objects 0)"),
            Unit::Micros,
        ),
    ]
}

struct Unlinked {
    longest_ping_micros: f64,
    unlink_micros: f64,
    freed_after_micros: f64,
    /// Whether the lazy-free thread freed it (lazyfreed_objects grew).
    in_background: bool,
}

/// Restores `key`, then UNLINKs it while another client pings, until the
/// lazy-free thread has nothing left to free.
fn unlink(server: &Server, con: &mut Connection, key: &Dumped) -> Unlinked {
    key.restore(con);
    // RESETSTAT zeroes lazyfreed_objects too: read it after.
    reset_stats(con);
    let lazyfreed_before = lazy_frees(con).1;

    let pinger = Pinger::start(server);
    while !pinger.has_pinged() {
        thread::sleep(POLL);
    }
    let start = Instant::now();
    let removed: i64 = redis::cmd("UNLINK")
        .arg(&key.key)
        .query(con)
        .expect("UNLINK");
    assert_eq!(removed, 1, "UNLINK found no {}", key.key);
    let (calls, unlink_micros) = command_stats(con, "unlink");
    assert_eq!(calls, 1, "cmdstat_unlink counted other calls");
    let deadline = Instant::now() + WAIT_TIMEOUT;
    let (lazyfreed_after, freed_after) = loop {
        let (pending, lazyfreed) = lazy_frees(con);
        if pending == 0 {
            break (lazyfreed, start.elapsed());
        }
        assert!(Instant::now() < deadline, "the lazy free took too long");
        thread::sleep(POLL);
    };
    let longest = pinger.stop();
    Unlinked {
        longest_ping_micros: longest.as_secs_f64() * 1e6,
        unlink_micros: unlink_micros as f64,
        freed_after_micros: freed_after.as_secs_f64() * 1e6,
        in_background: lazyfreed_after > lazyfreed_before,
    }
}

/// (lazyfree_pending_objects, lazyfreed_objects).
fn lazy_frees(con: &mut Connection) -> (i64, i64) {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(con)
        .expect("INFO memory");
    (
        info_field(&info, "lazyfree_pending_objects"),
        info_field(&info, "lazyfreed_objects"),
    )
}
