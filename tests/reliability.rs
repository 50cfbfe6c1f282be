//! Reliability under long and hostile use: no memory is leaked by thousands of
//! write/expire/delete cycles or by rejected `RESTORE` payloads, every
//! acknowledged write survives a `SIGKILL` with `appendfsync always` (AOF
//! rewrites included), and 50 concurrent clients on shared keys get no error
//! and leave a replica identical to its master.
//!
//! The random choices come from a seed each test prints (`MULTIMAP_SEED=...`,
//! with the command that replays it).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use common::{
    aof_rewrite_status, dbsize, digest, frame, getall, info_field, info_number, key_type, seed,
    show, show_cmd, show_difference, unframe, used_memory, wait_for_aof_rewrite,
    wait_for_lazy_frees, wait_in_sync, wait_until, Bytes, Fields, Rng, Seed, Server, FILLER_KEYS,
};
use redis::{Connection, Value};

/// A database of MultiMap keys.
type Dataset = BTreeMap<Bytes, Fields>;

/// How far `used_memory` may end from its baseline: 1%.
const MEMORY_TOLERANCE_PERCENT: i64 = 1;

/// How long anything the tests wait for (expiry, lazy free, a replica, a
/// restart) may take.
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- helpers

/// Every key of the current database, read back with GETALL.
fn read_dataset(con: &mut Connection) -> Dataset {
    let keys: Vec<Bytes> = redis::cmd("KEYS").arg("*").query(con).expect("KEYS");
    keys.into_iter()
        .map(|key| {
            assert_eq!(key_type(con, &key), "rmultimap", "type of {}", show(&key));
            let fields = getall(con, &key);
            (key, fields)
        })
        .collect()
}

/// Where two datasets differ, key by key, for a failure message.
fn dataset_difference(expected: &Dataset, actual: &Dataset) -> String {
    let keys: BTreeSet<&Bytes> = expected.keys().chain(actual.keys()).collect();
    let empty = Fields::new();
    let mut report = String::new();
    for key in keys {
        let (want, got) = (expected.get(key), actual.get(key));
        if want != got {
            let detail = show_difference(want.unwrap_or(&empty), got.unwrap_or(&empty));
            report += &format!("key {}:\n{detail}\n", show(key));
        }
    }
    report
}

// ---------------------------------------------------------------- leaks

/// Keys of every leak cycle, and how many of them get copies and restores.
const CHURN_KEYS: usize = 200;
const CHURN_COPIES: usize = 40;

/// Runs `work` on a connection of its own and waits until the server has
/// freed that connection, its expired keys and its lazily freed values, and
/// holds only the filler keys again.
fn on_own_connection(server: &Server, quiet: &mut Connection, work: impl FnOnce(&mut Connection)) {
    let clients = info_number(quiet, "clients", "connected_clients");
    {
        let mut con = server.connect();
        work(&mut con);
    }
    wait_until("the worker connection to be freed", WAIT_TIMEOUT, || {
        info_number(quiet, "clients", "connected_clients") == clients
    });
    wait_until("every test key to be gone", WAIT_TIMEOUT, || {
        dbsize(quiet) == FILLER_KEYS
    });
    wait_for_lazy_frees(quiet);
}

/// `used_memory` once it holds still over two reads 50 ms apart (a background
/// free may still be finishing).
fn settled_used_memory(quiet: &mut Connection) -> i64 {
    let mut last = used_memory(quiet);
    for _ in 0..40 {
        sleep(Duration::from_millis(50));
        let now = used_memory(quiet);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// `scale` says how much data went through, for the report. Only growth
/// counts: a leak can only add, while the server itself may give back some of
/// its own memory meanwhile (Valkey shrinks its keyspace tables after churn).
fn assert_near_baseline(what: &str, seed: &Seed, baseline: i64, after: i64, scale: &str) {
    let report = format!(
        "{seed}: {what}: used_memory {baseline} at the baseline, {after} afterwards \
         ({:+} bytes; {scale})",
        after - baseline
    );
    eprintln!("{report}");
    assert!(
        (after - baseline) * 100 <= baseline * MEMORY_TOLERANCE_PERCENT,
        "{report}"
    );
}

/// A value for the churn: mostly a few bytes, some kilobytes, a few tens of
/// kilobytes.
fn churn_value(rng: &mut Rng) -> Bytes {
    let len = match rng.below(100) {
        0..=59 => rng.below(17),
        60..=89 => 16 + rng.below(500),
        90..=98 => 512 + rng.below(3584),
        _ => 4096 + rng.below(60_000),
    } as usize;
    rng.bytes(len)
}

/// Values to write: half of them from a small pool, so that REMOVE finds them.
fn churn_values(rng: &mut Rng, pool: &[Bytes]) -> Vec<Bytes> {
    (0..1 + rng.below(8))
        .map(|_| {
            if rng.below(2) == 0 {
                pool[rng.below(pool.len() as u64) as usize].clone()
            } else {
                churn_value(rng)
            }
        })
        .collect()
}

fn churn_key(index: u64) -> String {
    format!("mm:key:{index}")
}

fn churn_field(index: u64) -> Bytes {
    let mut field = format!("field:{index}").into_bytes();
    if index.is_multiple_of(3) {
        field.extend_from_slice(b"\0\xff");
    }
    field
}

/// One cycle of churn over CHURN_KEYS keys: fill them with thousands of
/// fields, then thousands of random INSERT/REPLACE/REMOVE/DEL (and reads,
/// SCANs left unfinished, COPY, DUMP/RESTORE), then make every key go: by
/// PEXPIRE with a short TTL (reclaimed by the active expire cycle, or by a
/// read after expiry; freed lazily or not), DEL, UNLINK, deleting all its fields or removing all
/// its values. Returns the peak of `used_memory`.
fn churn_cycle(con: &mut Connection, rng: &mut Rng) -> i64 {
    // Expired keys are freed on the main thread or the lazy free thread.
    let lazy_expire = ["no", "yes"][rng.below(2) as usize];
    redis::cmd("CONFIG")
        .arg(&["SET", "lazyfree-lazy-expire", lazy_expire])
        .exec(con)
        .expect("CONFIG SET lazyfree-lazy-expire");
    let pool: Vec<Bytes> = (0..16).map(|_| churn_value(rng)).collect();
    let mut pipe = redis::pipe();
    for key in 0..CHURN_KEYS as u64 {
        for field in 0..5 + rng.below(26) {
            pipe.cmd("MULTIMAP.INSERT")
                .arg(churn_key(key))
                .arg(churn_field(field))
                .arg(churn_values(rng, &pool))
                .ignore();
        }
        if key % 20 == 19 {
            pipe.exec(con).expect("filling the churn keys");
            pipe.clear();
        }
    }

    for _ in 0..40 {
        for _ in 0..100 {
            let key = churn_key(rng.below(CHURN_KEYS as u64));
            let field = churn_field(rng.below(40));
            let name = match rng.below(10) {
                0..=2 => "MULTIMAP.INSERT",
                3 => "MULTIMAP.REPLACE",
                4..=6 => "MULTIMAP.REMOVE",
                7 => "MULTIMAP.DEL",
                8 => "MULTIMAP.GETALL",
                _ => "MULTIMAP.SCAN",
            };
            let mut command = redis::cmd(name);
            command.arg(&key);
            match name {
                "MULTIMAP.GETALL" => {}
                // An iteration left unfinished.
                "MULTIMAP.SCAN" => {
                    command.arg(0).arg("COUNT").arg(1 + rng.below(5));
                }
                "MULTIMAP.DEL" => {
                    command.arg(&field);
                }
                _ => {
                    command.arg(&field).arg(churn_values(rng, &pool));
                }
            }
            pipe.add_command(command).ignore();
        }
        pipe.exec(con).expect("churning the keys");
        pipe.clear();
    }

    for copy in 0..CHURN_COPIES as u64 {
        let source = churn_key(rng.below(CHURN_KEYS as u64));
        let copied: bool = redis::cmd("COPY")
            .arg(&source)
            .arg(format!("mm:copy:{copy}"))
            .query(con)
            .expect("COPY");
        assert!(copied, "COPY {source}");
        let payload: Option<Bytes> = redis::cmd("DUMP").arg(&source).query(con).expect("DUMP");
        redis::cmd("RESTORE")
            .arg(format!("mm:restored:{copy}"))
            .arg(0)
            .arg(payload.expect("a DUMP payload"))
            .exec(con)
            .expect("RESTORE");
    }
    let peak = used_memory(con);

    let keys: Vec<String> = redis::cmd("KEYS").arg("mm:*").query(con).expect("KEYS");
    let mut expiring = Vec::new();
    for key in keys {
        match rng.below(6) {
            0 | 1 => {
                let _: i64 = redis::cmd("PEXPIRE")
                    .arg(&key)
                    .arg(1 + rng.below(30))
                    .query(con)
                    .expect("PEXPIRE");
                expiring.push(key);
            }
            2 => redis::cmd("DEL").arg(&key).exec(con).expect("DEL"),
            3 => redis::cmd("UNLINK").arg(&key).exec(con).expect("UNLINK"),
            4 => {
                let fields: Vec<Bytes> = redis::cmd("MULTIMAP.FIELDS")
                    .arg(&key)
                    .query(con)
                    .expect("MULTIMAP.FIELDS");
                let deleted: usize = redis::cmd("MULTIMAP.DEL")
                    .arg(&key)
                    .arg(&fields)
                    .query(con)
                    .expect("MULTIMAP.DEL");
                assert_eq!(deleted, fields.len(), "MULTIMAP.DEL of all fields of {key}");
            }
            _ => {
                for (field, values) in getall(con, key.as_bytes()) {
                    let removed: usize = redis::cmd("MULTIMAP.REMOVE")
                        .arg(&key)
                        .arg(field)
                        .arg(&values)
                        .query(con)
                        .expect("MULTIMAP.REMOVE");
                    assert_eq!(
                        removed,
                        values.len(),
                        "MULTIMAP.REMOVE of all values of {key}"
                    );
                }
            }
        }
    }
    // Half the expiring keys are reclaimed by the active expire cycle, the
    // other half by a read after they expired.
    sleep(Duration::from_millis(40));
    for key in expiring.iter().step_by(2) {
        let values: Vec<Bytes> = redis::cmd("MULTIMAP.GET")
            .arg(key)
            .arg("field:1")
            .query(con)
            .expect("MULTIMAP.GET");
        assert!(values.is_empty(), "{key} expired");
    }
    peak
}

#[test]
fn churn_of_inserts_removes_deletes_and_expiries_leaves_used_memory_at_its_baseline() {
    let seed = seed();
    let mut rng = seed.rng();
    // `hz 100` makes the active expire cycle reclaim expired keys quickly.
    let (server, mut quiet) = Server::builder().config("hz", "100").start_quiet();
    // The warm-up creates what Redis allocates lazily and keeps (shared
    // buffers, the lazy free machinery, the module's own state).
    on_own_connection(&server, &mut quiet, |con| {
        churn_cycle(con, &mut rng);
    });
    let baseline = settled_used_memory(&mut quiet);
    let mut peak = 0;
    for _ in 0..3 {
        on_own_connection(&server, &mut quiet, |con| {
            peak = peak.max(churn_cycle(con, &mut rng));
        });
    }
    let after = settled_used_memory(&mut quiet);
    assert!(
        peak - baseline > 5_000_000,
        "{seed}: the churn should hold megabytes (peak {peak}, baseline {baseline})"
    );
    assert_near_baseline(
        "3 churn cycles",
        &seed,
        baseline,
        after,
        &format!("the keys peaked at {} bytes", peak - baseline),
    );
}

// ---------------------------------------------------------------- rejected RESTORE payloads

/// Builds the keys whose DUMPs get mangled: many fields, long fields, big
/// values, binary names. Returns their genuine payloads.
fn restore_sources(con: &mut Connection, rng: &mut Rng) -> Vec<Bytes> {
    let mut pipe = redis::pipe();
    for field in 0..1500u64 {
        let values: Vec<Bytes> = (0..1 + rng.below(4))
            .map(|_| {
                let len = rng.below(200) as usize;
                rng.bytes(len)
            })
            .collect();
        pipe.cmd("MULTIMAP.INSERT")
            .arg("src:wide")
            .arg(churn_field(field))
            .arg(values)
            .ignore();
    }
    for chunk in 0..5 {
        let values: Vec<String> = (0..1000).map(|i| format!("{chunk}:{i}")).collect();
        pipe.cmd("MULTIMAP.INSERT")
            .arg("src:deep")
            .arg("the field")
            .arg(values)
            .ignore();
    }
    for field in 0..20u64 {
        pipe.cmd("MULTIMAP.INSERT")
            .arg("src:big")
            .arg(churn_field(field))
            .arg(rng.bytes(10_000 + (field as usize) * 1000))
            .arg(b"")
            .ignore();
    }
    pipe.exec(con).expect("filling the source keys");
    ["src:wide", "src:deep", "src:big"]
        .iter()
        .map(|key| {
            let payload: Option<Bytes> = redis::cmd("DUMP").arg(key).query(con).expect("DUMP");
            payload.expect("a DUMP payload")
        })
        .collect()
}

/// How the RESTORE payloads of one round fared.
#[derive(Default)]
struct RestoreTally {
    rejected: usize,
    /// Rejected payloads that were cut short with a valid CRC, so the
    /// module's loader had read part of a key.
    rejected_truncations: usize,
    /// Mangled payloads that still made a valid MultiMap (then deleted).
    accepted: usize,
}

/// Sends `payloads` mangled payloads: DUMPs cut short and re-framed with a
/// valid CRC (so the module's loader sees them end early), DUMPs with bytes
/// changed and re-framed (a count or length the loader must catch), and
/// DUMPs damaged without fixing the CRC (which Redis itself rejects).
fn restore_mangled(
    con: &mut Connection,
    rng: &mut Rng,
    genuine: &[Bytes],
    payloads: usize,
) -> RestoreTally {
    let mut tally = RestoreTally::default();
    for _ in 0..payloads {
        let source = rng.pick(genuine);
        let (body, version) = unframe(source);
        let kind = rng.below(4);
        let payload = match kind {
            0 | 1 => {
                // Mostly late cuts: the loader has built most of the key.
                let len = if rng.below(2) == 0 {
                    body.len() - 1 - rng.below(body.len() as u64 / 10) as usize
                } else {
                    1 + rng.below(body.len() as u64 - 1) as usize
                };
                frame(&body[..len], version)
            }
            2 => {
                let mut body = body.clone();
                for _ in 0..1 + rng.below(3) {
                    let at = 1 + rng.below(body.len() as u64 - 1) as usize;
                    body[at] = rng.next() as u8;
                }
                frame(&body, version)
            }
            _ => {
                let mut payload = source.clone();
                let at = rng.below(payload.len() as u64) as usize;
                payload[at] ^= 1 << rng.below(8);
                payload
            }
        };
        match redis::cmd("RESTORE")
            .arg("mangled")
            .arg(0)
            .arg(&payload)
            .exec(con)
        {
            Ok(()) => {
                tally.accepted += 1;
                redis::cmd("DEL").arg("mangled").exec(con).expect("DEL");
            }
            Err(error) => {
                assert!(
                    error.code().is_some(),
                    "RESTORE got no error reply: {error}"
                );
                tally.rejected += 1;
                if kind < 2 {
                    tally.rejected_truncations += 1;
                }
            }
        }
    }
    tally
}

#[test]
fn rejected_restore_payloads_leave_used_memory_at_its_baseline() {
    let seed = seed();
    let mut rng = seed.rng();
    let (mut server, mut quiet) = Server::builder().config("hz", "100").start_quiet();
    let genuine = {
        let mut con = server.connect();
        restore_sources(&mut con, &mut rng)
    };
    let source_digest = digest(&mut quiet);
    let keys = dbsize(&mut quiet);

    // Keys the loader must free when it rejects: a connection of its own, so
    // its query buffer (as big as the biggest payload) is gone when measured.
    let mangle = |quiet: &mut Connection, rng: &mut Rng, payloads: usize| {
        let clients = info_number(quiet, "clients", "connected_clients");
        let tally = {
            let mut con = server.connect();
            restore_mangled(&mut con, rng, &genuine, payloads)
        };
        wait_until("the worker connection to be freed", WAIT_TIMEOUT, || {
            info_number(quiet, "clients", "connected_clients") == clients
        });
        wait_for_lazy_frees(quiet);
        tally
    };
    mangle(&mut quiet, &mut rng, 50);
    let baseline = settled_used_memory(&mut quiet);
    let tally = mangle(&mut quiet, &mut rng, 400);
    let after = settled_used_memory(&mut quiet);

    assert!(server.is_alive(), "{seed}: the server died");
    eprintln!(
        "{} payloads rejected ({} of them truncated), {} accepted",
        tally.rejected, tally.rejected_truncations, tally.accepted
    );
    assert!(
        tally.rejected_truncations >= 100,
        "{seed}: only {} truncated payloads were rejected",
        tally.rejected_truncations
    );
    assert_eq!(dbsize(&mut quiet), keys, "{seed}: only the keys made");
    assert_eq!(
        digest(&mut quiet),
        source_digest,
        "{seed}: the source keys changed"
    );
    let data: usize = genuine.iter().map(Vec::len).sum();
    assert_near_baseline(
        "400 mangled RESTORE payloads",
        &seed,
        baseline,
        after,
        &format!("mangled from {data} bytes of genuine payloads"),
    );
}

// ---------------------------------------------------------------- crash safety

/// A write the crash test sends.
#[derive(Clone, Debug)]
enum Write {
    Insert(Bytes, Bytes, Vec<Bytes>),
    Remove(Bytes, Bytes, Vec<Bytes>),
    Replace(Bytes, Bytes, Vec<Bytes>),
    Del(Bytes, Vec<Bytes>),
}

impl Write {
    fn command(&self) -> redis::Cmd {
        let (name, key, rest) = match self {
            Write::Insert(key, field, values) => ("MULTIMAP.INSERT", key, (Some(field), values)),
            Write::Remove(key, field, values) => ("MULTIMAP.REMOVE", key, (Some(field), values)),
            Write::Replace(key, field, values) => ("MULTIMAP.REPLACE", key, (Some(field), values)),
            Write::Del(key, fields) => ("MULTIMAP.DEL", key, (None, fields)),
        };
        let mut command = redis::cmd(name);
        command.arg(key).arg(rest.0).arg(rest.1);
        command
    }

    /// Applies the write to `model` and returns the reply it should get.
    fn apply(&self, model: &mut Dataset) -> i64 {
        let key = match self {
            Write::Insert(key, ..)
            | Write::Remove(key, ..)
            | Write::Replace(key, ..)
            | Write::Del(key, ..) => key,
        };
        let fields = model.entry(key.clone()).or_default();
        let reply = match self {
            Write::Insert(_, field, values) => {
                let stored = fields.entry(field.clone()).or_default();
                stored.extend(values.iter().cloned());
                stored.len()
            }
            Write::Replace(_, field, values) => {
                fields.insert(field.clone(), values.clone());
                values.len()
            }
            Write::Remove(_, field, values) => {
                let stored = fields.entry(field.clone()).or_default();
                let before = stored.len();
                stored.retain(|value| !values.contains(value));
                let removed = before - stored.len();
                if stored.is_empty() {
                    fields.remove(field);
                }
                removed
            }
            Write::Del(_, to_delete) => to_delete
                .iter()
                .filter(|field| fields.remove(*field).is_some())
                .count(),
        };
        if fields.is_empty() {
            model.remove(key);
        }
        reply as i64
    }
}

impl fmt::Display for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", show_cmd(&self.command()))
    }
}

const CRASH_KEYS: &[&[u8]] = &[b"c:0", b"c:1", b"c:2", b"c:3", b"c:4", b"c\0\xff"];

/// A random write on a few keys and fields, its values from a small pool
/// (binary, empty, a few kilobytes) so that REMOVE and DEL often hit.
fn random_write(rng: &mut Rng, pool: &[Bytes]) -> Write {
    let key = CRASH_KEYS[rng.below(CRASH_KEYS.len() as u64) as usize].to_vec();
    let field = |rng: &mut Rng| churn_field(rng.below(12));
    let values = |rng: &mut Rng| -> Vec<Bytes> {
        (0..1 + rng.below(4))
            .map(|_| pool[rng.below(pool.len() as u64) as usize].clone())
            .collect()
    };
    match rng.below(20) {
        0..=7 => Write::Insert(key, field(rng), values(rng)),
        8..=12 => Write::Remove(key, field(rng), values(rng)),
        13..=16 => Write::Replace(key, field(rng), values(rng)),
        _ => {
            let fields: BTreeSet<Bytes> = (0..1 + rng.below(3)).map(|_| field(rng)).collect();
            Write::Del(key, fields.into_iter().collect())
        }
    }
}

/// What the writer saw before its server died.
struct Writes {
    /// The data after every acknowledged write.
    acknowledged: Dataset,
    /// The write sent whose reply never came, if any.
    in_flight: Option<Write>,
    count: usize,
    /// Replies that differed from the model's.
    wrong_replies: Vec<String>,
}

/// Sends writes one at a time until the connection fails (the server was
/// killed) or `deadline` passes, recording each acknowledged write in `model`.
fn write_until_killed(
    mut con: Connection,
    mut model: Dataset,
    mut rng: Rng,
    deadline: Instant,
) -> Writes {
    let pool: Vec<Bytes> = [&b"a"[..], b"b", b"", b"\0", b"\xff\xfe\0", b"\r\n", b"a\0b"]
        .iter()
        .map(|value| value.to_vec())
        .chain((0..3).map(|_| {
            let len = 1000 + rng.below(3000) as usize;
            rng.bytes(len)
        }))
        .collect();
    let mut writes = Writes {
        acknowledged: Dataset::new(),
        in_flight: None,
        count: 0,
        wrong_replies: Vec::new(),
    };
    while Instant::now() < deadline {
        let write = random_write(&mut rng, &pool);
        match write.command().query::<i64>(&mut con) {
            Ok(reply) => {
                let expected = write.apply(&mut model);
                if reply != expected {
                    writes
                        .wrong_replies
                        .push(format!("{write}: replied {reply}, expected {expected}"));
                }
                writes.count += 1;
            }
            Err(error) if error.code().is_some() => {
                writes.wrong_replies.push(format!("{write}: {error}"));
            }
            Err(_) => {
                writes.in_flight = Some(write);
                break;
            }
        }
    }
    writes.acknowledged = model;
    writes
}

fn aof_server(dir: Option<tempfile::TempDir>, rdb_preamble: bool) -> Server {
    let builder = Server::builder().aof(rdb_preamble);
    match dir {
        Some(dir) => builder.in_dir(dir),
        None => builder,
    }
    .start()
}

/// The log of a server restarted from its AOF: loaded, and with no complaint
/// but one. A SIGKILL can land while the server is still writing the command in
/// flight, leaving part of it at the end of the newest AOF file; the server
/// then drops that torn tail (`aof-load-truncated yes`), which loses nothing
/// acknowledged (the caller checks the data).
fn assert_aof_loaded_cleanly(server: &Server, context: &str) {
    let log = server.log_text();
    assert!(
        log.contains("DB loaded from append only file")
            || log.contains("DB loaded from incr file")
            || log.contains("DB loaded from base file"),
        "{context}: the log does not say the AOF was loaded:\n{log}"
    );
    let newest = newest_aof_file(server.dir.path());
    // Redis 6.2 keeps one AOF file, and its lines name none.
    let torn_tail_of_newest = |line: &str| {
        line.contains(&format!("short read while loading the AOF file {newest}!"))
            || line.contains(&format!("Truncating the AOF {newest} at offset"))
            || line.contains(&format!(
                "AOF {newest} loaded anyway because aof-load-truncated is enabled"
            ))
            || line.contains("short read while loading the AOF file !!!")
            || line.contains("Truncating the AOF at offset")
            || line.contains("AOF loaded anyway because aof-load-truncated is enabled")
    };
    for line in log.lines().filter(|line| !torn_tail_of_newest(line)) {
        for complaint in [
            "Bad file format",
            "Unrecoverable error",
            "Unexpected end of file",
            "short read",
            "truncated",
            "multimap: rejected",
            "Unknown command",
            "Error",
        ] {
            assert!(
                !line.contains(complaint),
                "{context}: the log has {complaint:?}:\n{log}"
            );
        }
    }
}

/// The name of the AOF file written to when the server was killed: the one
/// the manifest lists last (Redis 7.0+), or Redis 6.2's single file.
fn newest_aof_file(dir: &Path) -> String {
    let manifest_path = dir.join("appendonlydir").join("appendonly.aof.manifest");
    let Ok(manifest) = std::fs::read_to_string(&manifest_path) else {
        return "appendonly.aof".to_owned();
    };
    manifest
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("file ")?.split(' ').next())
        .unwrap_or_else(|| panic!("no file in {manifest:?}"))
        .to_owned()
}

/// What happens to the AOF while a crash run writes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rewrite {
    None,
    /// BGREWRITEAOF finishes, then the writes go on a little before the kill.
    Finished,
    /// The kill comes while the rewrite's child is still writing.
    KilledMidway,
}

/// Each crash run: the AOF rewrite during it and `aof-use-rdb-preamble`.
const CRASH_RUNS: [(Rewrite, bool); 6] = [
    (Rewrite::None, true),
    (Rewrite::KilledMidway, false),
    (Rewrite::Finished, true),
    (Rewrite::KilledMidway, true),
    (Rewrite::Finished, false),
    (Rewrite::None, false),
];

#[test]
fn acknowledged_writes_survive_sigkill_with_appendfsync_always() {
    let seed = seed();
    let mut rng = seed.rng();
    let mut model = Dataset::new();
    let mut server = aof_server(None, CRASH_RUNS[0].1);
    for (run, &(rewrite, rdb_preamble)) in CRASH_RUNS.iter().enumerate() {
        let write_for = Duration::from_millis(100 + rng.below(600));
        let then_for = Duration::from_millis(match rewrite {
            Rewrite::KilledMidway => rng.below(150),
            _ => rng.below(300),
        });
        let context = format!(
            "{seed} run {run} (aof-use-rdb-preamble {rdb_preamble}, writes for {write_for:?}, \
             then rewrite {rewrite:?} and kill after {then_for:?})"
        );
        eprintln!("{context}");

        let writer = {
            let con = server.connect();
            con.set_read_timeout(Some(WAIT_TIMEOUT)).unwrap();
            let model = model.clone();
            let writer_rng = Rng(rng.next());
            let deadline = Instant::now() + WAIT_TIMEOUT;
            thread::spawn(move || write_until_killed(con, model, writer_rng, deadline))
        };
        sleep(write_for);
        let mut con = server.connect();
        match rewrite {
            Rewrite::None => sleep(then_for),
            Rewrite::Finished => {
                redis::cmd("BGREWRITEAOF")
                    .exec(&mut con)
                    .unwrap_or_else(|error| panic!("{context}: BGREWRITEAOF: {error}"));
                wait_for_aof_rewrite(&mut con);
                assert_eq!(
                    aof_rewrite_status(&mut con).as_deref(),
                    Some("ok"),
                    "{context}"
                );
                sleep(then_for);
            }
            Rewrite::KilledMidway => {
                // The child takes 200 ms per key (there are up to six), so it
                // still runs when the kill comes at most 150 ms later.
                redis::cmd("CONFIG")
                    .arg(&["SET", "rdb-key-save-delay", "200000"])
                    .exec(&mut con)
                    .unwrap_or_else(|error| panic!("{context}: CONFIG SET: {error}"));
                redis::cmd("BGREWRITEAOF")
                    .exec(&mut con)
                    .unwrap_or_else(|error| panic!("{context}: BGREWRITEAOF: {error}"));
                sleep(then_for);
                assert_eq!(
                    info_field(&mut con, "persistence", "aof_rewrite_in_progress").as_deref(),
                    Some("1"),
                    "{context}: the rewrite should still run"
                );
            }
        }
        let dir = server.stop();
        let writes = writer.join().expect("the writer thread");
        assert!(
            writes.wrong_replies.is_empty(),
            "{context}: replies differ from the model:\n{}",
            writes.wrong_replies.join("\n")
        );
        assert!(
            writes.in_flight.is_some(),
            "{context}: the writer stopped before the server was killed"
        );

        let next_preamble = CRASH_RUNS.get(run + 1).is_none_or(|next| next.1);
        server = aof_server(Some(dir), next_preamble);
        assert_aof_loaded_cleanly(&server, &context);
        let mut con = server.connect();
        let loaded = read_dataset(&mut con);
        let mut after_in_flight = writes.acknowledged.clone();
        let in_flight = writes.in_flight.expect("checked above");
        in_flight.apply(&mut after_in_flight);
        let applied = if loaded == writes.acknowledged {
            false
        } else if loaded == after_in_flight {
            true
        } else {
            panic!(
                "{context}: after {} acknowledged writes and the unacknowledged {in_flight}, \
                 the restarted server holds other data:\n{}",
                writes.count,
                dataset_difference(&writes.acknowledged, &loaded)
            );
        };
        eprintln!(
            "  {} writes acknowledged; in flight: {in_flight} ({}); {} keys",
            writes.count,
            if applied { "applied" } else { "not applied" },
            loaded.len()
        );
        model = loaded;
    }
}

// ---------------------------------------------------------------- load

const LOAD_CLIENTS: usize = 50;
const LOAD_OPS_PER_CLIENT: usize = 1000;
const LOAD_TIME: Duration = Duration::from_secs(5);
const LOAD_KEYS: u64 = 6;
const LOAD_FIELDS: u64 = 16;

fn load_fields() -> Vec<Bytes> {
    (0..LOAD_FIELDS).map(churn_field).collect()
}

fn load_values() -> Vec<Bytes> {
    let mut values: Vec<Bytes> = (0..10).map(|i| format!("v{i}").into_bytes()).collect();
    values.extend([b"".to_vec(), b"\0".to_vec(), b"\xff\xfe".to_vec()]);
    values.push(vec![b'x'; 3000]);
    values
}

/// Checks a reply's shape and that every field and value in it is one the
/// clients write: what holds whatever the other clients do meanwhile.
struct ReplyCheck {
    fields: BTreeSet<Bytes>,
    values: BTreeSet<Bytes>,
}

impl ReplyCheck {
    fn integer(&self, reply: &Value, range: std::ops::RangeInclusive<i64>) -> Result<(), String> {
        match reply {
            Value::Int(n) if range.contains(n) => Ok(()),
            _ => Err(format!("expected an integer in {range:?}, got {reply:?}")),
        }
    }

    fn array<'a>(&self, reply: &'a Value) -> Result<&'a [Value], String> {
        match reply {
            Value::Array(items) => Ok(items),
            _ => Err(format!("expected an array, got {reply:?}")),
        }
    }

    fn bulk<'a>(&self, reply: &'a Value, known: &BTreeSet<Bytes>) -> Result<&'a [u8], String> {
        match reply {
            Value::BulkString(bytes) if known.contains(bytes) => Ok(bytes),
            _ => Err(format!("unexpected element {reply:?}")),
        }
    }

    fn values(&self, reply: &Value, max: usize) -> Result<usize, String> {
        let items = self.array(reply)?;
        if items.len() > max {
            return Err(format!("{} values, at most {max} expected", items.len()));
        }
        for item in items {
            self.bulk(item, &self.values)?;
        }
        Ok(items.len())
    }

    /// `field, [values], ...` pairs: distinct known fields, none empty.
    fn pairs(&self, items: &[Value]) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err(format!("{} elements in field/values pairs", items.len()));
        }
        let mut seen = BTreeSet::new();
        for pair in items.chunks(2) {
            let field = self.bulk(&pair[0], &self.fields)?;
            if !seen.insert(field) {
                return Err(format!("field {} twice", show(field)));
            }
            if self.values(&pair[1], usize::MAX)? == 0 {
                return Err(format!("field {} has no values", show(field)));
            }
        }
        Ok(())
    }
}

/// One random MULTIMAP command of any kind; checks its reply.
fn load_op(
    con: &mut Connection,
    rng: &mut Rng,
    check: &ReplyCheck,
    fields: &[Bytes],
    values: &[Bytes],
) -> Result<(), String> {
    let key = format!("load:{}", rng.below(LOAD_KEYS));
    let field = &fields[rng.below(fields.len() as u64) as usize];
    let some_values: Vec<&Bytes> = (0..1 + rng.below(4))
        .map(|_| &values[rng.below(values.len() as u64) as usize])
        .collect();
    let count = some_values.len() as i64;
    let name = match rng.below(30) {
        0..=5 => "MULTIMAP.INSERT",
        6..=8 => "MULTIMAP.REMOVE",
        9..=10 => "MULTIMAP.REPLACE",
        11 => "MULTIMAP.DEL",
        12..=13 => "MULTIMAP.GET",
        14 => "MULTIMAP.VALUES",
        15..=16 => "MULTIMAP.LEN",
        17..=18 => "MULTIMAP.RANGE",
        19..=20 => "MULTIMAP.CONTAINS",
        21 => "MULTIMAP.EXISTS",
        22 => "MULTIMAP.CARD",
        23 => "MULTIMAP.SIZE",
        24..=25 => "MULTIMAP.FIELDS",
        26..=27 => "MULTIMAP.GETALL",
        _ => "MULTIMAP.SCAN",
    };
    if name == "MULTIMAP.SCAN" {
        return load_scan(con, rng, check, &key);
    }
    let (start, stop) = (rng.below(10) as i64 - 5, rng.below(10) as i64 - 3);
    let mut command = redis::cmd(name);
    command.arg(&key);
    match name {
        "MULTIMAP.INSERT" | "MULTIMAP.REMOVE" | "MULTIMAP.REPLACE" => {
            command.arg(field).arg(&some_values);
        }
        "MULTIMAP.DEL" => {
            command.arg(field);
        }
        "MULTIMAP.CONTAINS" => {
            command.arg(field).arg(some_values[0]);
        }
        "MULTIMAP.RANGE" => {
            command.arg(field).arg(start).arg(stop);
        }
        "MULTIMAP.CARD" | "MULTIMAP.SIZE" | "MULTIMAP.FIELDS" | "MULTIMAP.GETALL" => {}
        _ => {
            command.arg(field);
        }
    }
    let reply: Value = command
        .query(con)
        .map_err(|error| format!("{name}: {error}"))?;
    let checked = match name {
        "MULTIMAP.INSERT" => check.integer(&reply, count..=i64::MAX),
        "MULTIMAP.REPLACE" => check.integer(&reply, count..=count),
        "MULTIMAP.REMOVE" | "MULTIMAP.LEN" | "MULTIMAP.CARD" | "MULTIMAP.SIZE" => {
            check.integer(&reply, 0..=i64::MAX)
        }
        "MULTIMAP.DEL" | "MULTIMAP.CONTAINS" | "MULTIMAP.EXISTS" => check.integer(&reply, 0..=1),
        "MULTIMAP.GET" | "MULTIMAP.VALUES" => check.values(&reply, usize::MAX).map(drop),
        "MULTIMAP.RANGE" => check.values(&reply, range_bound(start, stop)).map(drop),
        "MULTIMAP.FIELDS" => check.array(&reply).and_then(|items| {
            let mut seen = BTreeSet::new();
            items.iter().try_for_each(|item| {
                let field = check.bulk(item, &check.fields)?;
                match seen.insert(field) {
                    true => Ok(()),
                    false => Err(format!("field {} twice", show(field))),
                }
            })
        }),
        _ => check.array(&reply).and_then(|items| check.pairs(items)),
    };
    checked.map_err(|problem| format!("{name} {key}: {problem}"))
}

/// The most values RANGE `start` `stop` can reply, whatever the field's length.
fn range_bound(start: i64, stop: i64) -> usize {
    match (start, stop) {
        (0.., 0..) => (stop - start + 1).max(0) as usize,
        (..0, _) => start.unsigned_abs() as usize,
        _ => usize::MAX,
    }
}

/// A few steps of a SCAN, sometimes with MATCH, sometimes to the end.
fn load_scan(
    con: &mut Connection,
    rng: &mut Rng,
    check: &ReplyCheck,
    key: &str,
) -> Result<(), String> {
    let mut cursor = b"0".to_vec();
    let with_match = rng.below(3) == 0;
    for _ in 0..1 + rng.below(6) {
        let mut command = redis::cmd("MULTIMAP.SCAN");
        command
            .arg(key)
            .arg(&cursor)
            .arg("COUNT")
            .arg(1 + rng.below(8));
        if with_match {
            command.arg("MATCH").arg("field:1*");
        }
        let reply: Value = command
            .query(con)
            .map_err(|error| format!("MULTIMAP.SCAN: {error}"))?;
        let items = check.array(&reply)?;
        let (Some(Value::BulkString(next)), Some(page), 2) =
            (items.first(), items.get(1), items.len())
        else {
            return Err(format!("MULTIMAP.SCAN {key}: reply {reply:?}"));
        };
        check
            .pairs(check.array(page)?)
            .map_err(|problem| format!("MULTIMAP.SCAN {key}: {problem}"))?;
        if next.as_slice() == b"0" {
            break;
        }
        cursor = next.clone();
    }
    Ok(())
}

#[test]
fn fifty_concurrent_clients_get_no_errors_and_leave_the_replica_identical() {
    let seed = seed();
    let mut rng = seed.rng();
    let mut master = Server::builder().master().start();
    let mut replica = Server::builder().replica_of(&master).start();
    let mut master_con = master.connect();
    let mut replica_con = replica.connect();
    wait_in_sync(&mut master_con, &mut replica_con);

    let check = Arc::new(ReplyCheck {
        fields: load_fields().into_iter().collect(),
        values: load_values().into_iter().collect(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + LOAD_TIME;
    let clients: Vec<_> = (0..LOAD_CLIENTS)
        .map(|_| {
            let mut con = master.connect();
            con.set_read_timeout(Some(WAIT_TIMEOUT)).unwrap();
            let mut rng = Rng(rng.next());
            let (check, stop) = (Arc::clone(&check), Arc::clone(&stop));
            thread::spawn(move || {
                let (fields, values) = (load_fields(), load_values());
                let mut problems = Vec::new();
                let mut ops = 0;
                while ops < LOAD_OPS_PER_CLIENT && Instant::now() < deadline {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Err(problem) = load_op(&mut con, &mut rng, &check, &fields, &values) {
                        problems.push(problem);
                        if problems.len() >= 5 {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    ops += 1;
                }
                (ops, problems)
            })
        })
        .collect();
    let mut ops = 0;
    let mut problems = Vec::new();
    for client in clients {
        let (client_ops, client_problems) = client.join().expect("a client thread");
        ops += client_ops;
        problems.extend(client_problems);
    }
    eprintln!(
        "{ops} commands from {LOAD_CLIENTS} clients in {:?}",
        started.elapsed()
    );
    assert!(
        problems.is_empty(),
        "{seed}: {} bad replies, e.g.:\n{}",
        problems.len(),
        problems[..problems.len().min(10)].join("\n")
    );
    assert!(master.is_alive(), "{seed}: the master died");
    assert!(replica.is_alive(), "{seed}: the replica died");
    assert!(
        ops >= LOAD_CLIENTS * 50,
        "{seed}: only {ops} commands ran in {LOAD_TIME:?}"
    );

    wait_in_sync(&mut master_con, &mut replica_con);
    let master_data = read_dataset(&mut master_con);
    let replica_data = read_dataset(&mut replica_con);
    assert!(!master_data.is_empty(), "{seed}: the master holds no data");
    assert!(
        master_data == replica_data,
        "{seed}: the replica differs from the master:\n{}",
        dataset_difference(&master_data, &replica_data)
    );
    assert_eq!(
        digest(&mut master_con),
        digest(&mut replica_con),
        "{seed}: DEBUG DIGEST of master and replica"
    );
}
