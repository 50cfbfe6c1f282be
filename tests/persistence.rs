//! Persistence keeps every MultiMap byte for byte: the original module's
//! encoding-version-0 RDB files, `DEBUG RELOAD`, `SAVE` and restart,
//! `DUMP`/`RESTORE` (to another key and another server), and the AOF, rewritten
//! with or without an RDB preamble and replayed on restart, in bounded commands.
//! Field expiries too: each of these carries them (the fields still expire on
//! time where they land), and a field whose time passed before it was loaded
//! is dropped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    assert_exact, base_aof_path, content, dbsize, digest, digest_value, dump, error_reply,
    error_text, expired_fields, fields_with_expiry, getall, insert, integer, is_redis_7,
    key_exists, key_type, logged_commands, parse_aof_commands, per_field, pexpireat, query,
    restore, rewrite_aof, run, server_time_ms, show, show_command, show_difference, skip_unless,
    timed_content, wait_for_key_removed, wait_for_server_time, Bytes, ExpiringKeys, Fields, Rng,
    Server, TimedFields, BAD_DATA_FORMAT, BUSYKEY, NO_EXPIRY, NO_FIELD, SOON, TIMED, VANISHING,
};
use redis::Connection;

/// What a key holds, read back through the commands of its type.
#[derive(Debug, PartialEq, Eq)]
enum Stored {
    MultiMap(Fields),
    String(Bytes),
    List(Vec<Bytes>),
    Hash(Vec<(Bytes, Bytes)>),
}

/// Every key of the current database and its content.
type Dataset = BTreeMap<Bytes, Stored>;

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------- helpers

/// Reads every key back, through the commands of its type.
fn dataset(con: &mut Connection) -> Dataset {
    let keys: Vec<Bytes> = redis::cmd("KEYS").arg("*").query(con).expect("KEYS");
    let mut dataset = Dataset::new();
    for key in keys {
        let stored = match key_type(con, &key).as_str() {
            "rmultimap" => Stored::MultiMap(getall(con, &key)),
            "string" => Stored::String(redis::cmd("GET").arg(&key).query(con).expect("GET")),
            "list" => Stored::List(
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query(con)
                    .expect("LRANGE"),
            ),
            "hash" => {
                let hash: BTreeMap<Bytes, Bytes> =
                    redis::cmd("HGETALL").arg(&key).query(con).expect("HGETALL");
                Stored::Hash(hash.into_iter().collect())
            }
            other => panic!("key {} has unexpected type {other}", show(&key)),
        };
        dataset.insert(key, stored);
    }
    dataset
}

/// Asserts two datasets are equal, naming the first difference briefly.
fn assert_same_dataset(expected: &Dataset, actual: &Dataset) {
    let expected_keys: Vec<String> = expected.keys().map(|key| show(key)).collect();
    let actual_keys: Vec<String> = actual.keys().map(|key| show(key)).collect();
    assert_eq!(actual_keys, expected_keys, "the keys differ");
    for (key, want) in expected {
        let got = &actual[key];
        if want == got {
            continue;
        }
        let detail = match (want, got) {
            (Stored::MultiMap(want), Stored::MultiMap(got)) => show_difference(want, got),
            _ => format!("expected {want:?}, found {got:?}"),
        };
        panic!("key {} differs:\n{detail}", show(key));
    }
}

/// Writes keys with every awkward shape persistence must keep: binary key,
/// field and value bytes (NUL, 0xff, empty strings, a trailing NUL that is
/// data, not a terminator), integer-looking fields, lengths at the encoding's
/// boundaries, a 1 MiB value, thousands of fields, a field of many values, and
/// keys of native types beside them.
fn write_awkward_keys(con: &mut Connection) {
    let binary_key: &[u8] = b"bin\0key\xff";
    insert(
        con,
        binary_key,
        b"",
        &[&b""[..], b"\0", b"", b"\xff\xfe\xfd"],
    );
    insert(con, binary_key, b"\0", &[&b"\0\0"[..], b"plain"]);
    insert(
        con,
        binary_key,
        b"\xff\xff",
        &[&b"*1\r\n$3\r\nDEL\r\n"[..], b"a\0b"],
    );
    insert(con, binary_key, b"ends-with-nul\0", &[&b"x\0"[..], b"\0"]);
    let all_bytes: Bytes = (0..=255).collect();
    let all_bytes_reversed: Bytes = (0..=255).rev().collect();
    insert(con, binary_key, &all_bytes, &[&all_bytes_reversed]);
    // Integer-looking strings, which RDB stores in its integer encodings.
    insert(con, binary_key, b"12345", &[&b"-1"[..], b"0", b"12345"]);
    insert(con, binary_key, b"-7", &[&b"9223372036854775807"[..]]);

    // Value lengths around the LEB128 and 64 KiB chunk boundaries.
    let lengths = [
        0, 1, 127, 128, 129, 255, 256, 16_383, 16_384, 16_385, 65_535, 65_536, 65_537,
    ];
    let sized: Vec<Bytes> = lengths
        .iter()
        .map(|&len| Rng(len as u64 + 1).bytes(len))
        .collect();
    insert(con, b"lengths", b"sized", &sized);

    insert(
        con,
        b"big",
        b"blob",
        &[Rng(7).bytes(MIB), b"after".to_vec()],
    );
    insert(con, b"big", b"small", &["s"]);

    // Compressible values, which RDB stores LZF-compressed.
    insert(con, b"compressible", b"f", &vec!["abcd".repeat(500); 20]);

    let mut pipe = redis::pipe();
    for i in 0..5_000usize {
        pipe.cmd("MULTIMAP.INSERT")
            .arg("wide")
            .arg(format!("field:{i}"))
            .arg(format!("{i}"))
            .arg(vec![i as u8; i % 7])
            .ignore();
    }
    pipe.query::<()>(con).expect("pipelined INSERTs");

    let long: Vec<String> = (0..20_000).map(|i| format!("value-{i:06}")).collect();
    insert(con, b"long", b"l", &long);

    insert(con, b"dups", b"f", &["x", "x", "x", "y", "x"]);
    insert(con, b"dups", b"g", &["x"]);

    let _: () = redis::cmd("SET")
        .arg("plain:string")
        .arg(b"str\0ing")
        .query(con)
        .unwrap();
    let _: () = redis::cmd("RPUSH")
        .arg("plain:list")
        .arg("a")
        .arg(b"\xff")
        .query(con)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("plain:hash")
        .arg("h")
        .arg(b"\0v")
        .query(con)
        .unwrap();
}

/// The MultiMap keys `write_awkward_keys` writes.
const AWKWARD_MULTIMAPS: [&[u8]; 7] = [
    b"bin\0key\xff",
    b"lengths",
    b"big",
    b"compressible",
    b"wide",
    b"long",
    b"dups",
];

fn assert_no_rejection_logged(server: &Server) {
    let log = server.log_text();
    assert!(
        !log.contains("multimap: rejected"),
        "the module rejected stored data:\n{log}"
    );
}

/// What a server holds: every key read back, and `DEBUG DIGEST`.
struct Snapshot {
    dataset: Dataset,
    digest: String,
}

fn snapshot(con: &mut Connection) -> Snapshot {
    Snapshot {
        dataset: dataset(con),
        digest: digest(con),
    }
}

/// The server holds exactly `expected`, and its log shows no stored value
/// the module rejected.
fn assert_holds(server: &Server, expected: &Snapshot) {
    let mut con = server.connect();
    assert_same_dataset(&expected.dataset, &dataset(&mut con));
    assert_eq!(digest(&mut con), expected.digest, "DEBUG DIGEST");
    assert_no_rejection_logged(server);
}

fn seed_v0_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-v0.rdb")
}

/// What seed-v0.rdb holds, per its README.
fn seed_v0_content() -> Dataset {
    let user_tags = content(&[
        ("colors", &["red", "green", "blue"]),
        ("sizes", &["S", "M", "L", "XL"]),
        ("empty-ish", &[""]),
    ]);
    Dataset::from([
        (b"user:1:tags".to_vec(), Stored::MultiMap(user_tags)),
        (
            "ключ".as_bytes().to_vec(),
            Stored::MultiMap(content(&[("поле", &["значение", "ünïcødé ✓"])])),
        ),
        (
            b"dup".to_vec(),
            Stored::MultiMap(content(&[("f", &["x", "x", "x", "y"])])),
        ),
        (b"plain:string".to_vec(), Stored::String(b"hello".to_vec())),
        (
            b"plain:list".to_vec(),
            Stored::List(vec![b"a".to_vec(), b"b".to_vec()]),
        ),
    ])
}

/// The encoding version inside a DUMP payload of a module value: the low 10
/// bits of the 64-bit module id that follows the object type.
fn dump_encoding_version(payload: &[u8]) -> u64 {
    const RDB_TYPE_MODULE_2: u8 = 7;
    const RDB_64BITLEN: u8 = 0x81;
    assert_eq!(payload[0], RDB_TYPE_MODULE_2, "a module value");
    assert_eq!(payload[1], RDB_64BITLEN, "a 64-bit module id");
    let id = u64::from_be_bytes(payload[2..10].try_into().unwrap());
    id & 1023
}

fn restore_replace(con: &mut Connection, key: &[u8], payload: &[u8]) {
    let _: () = redis::cmd("RESTORE")
        .arg(key)
        .arg(0)
        .arg(payload)
        .arg("REPLACE")
        .query(con)
        .expect("RESTORE ... REPLACE");
}

// ---------------------------------------------------------------- RDB from the original module

#[test]
fn original_module_v0_rdb_loads_with_trailing_nul_stripped() {
    if skip_unless(
        is_redis_7(),
        "seed-v0.rdb is a Redis 7.0 RDB (format 10), which older servers cannot read",
    ) {
        return;
    }
    let mut server = Server::builder().loading_rdb(&seed_v0_fixture()).start();
    let mut con = server.connect();
    assert_same_dataset(&seed_v0_content(), &dataset(&mut con));
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", b"user:1:tags")), 3);
    assert_eq!(integer(&mut con, ("MULTIMAP.SIZE", b"user:1:tags")), 8);
    assert_eq!(
        integer(&mut con, ("MULTIMAP.LEN", b"user:1:tags", b"empty-ish")),
        1
    );
    assert_eq!(integer(&mut con, ("MULTIMAP.LEN", b"dup", b"f")), 4);
    assert_eq!(
        integer(&mut con, ("MULTIMAP.EXISTS", b"user:1:tags", b"colors\0")),
        0
    );
    assert!(server.is_alive());
    assert_no_rejection_logged(&server);
}

#[test]
fn keys_loaded_from_v0_rdb_are_saved_back_in_the_current_encoding() {
    if skip_unless(
        is_redis_7(),
        "seed-v0.rdb is a Redis 7.0 RDB (format 10), which older servers cannot read",
    ) {
        return;
    }
    let server = Server::builder().loading_rdb(&seed_v0_fixture()).start();
    let mut con = server.connect();
    for key in [&b"user:1:tags"[..], "ключ".as_bytes(), b"dup"] {
        assert_eq!(
            dump_encoding_version(&dump(&mut con, key)),
            2,
            "{}",
            show(key)
        );
    }
    let expected = Snapshot {
        dataset: seed_v0_content(),
        digest: digest(&mut con),
    };
    run(&mut con, &["SAVE"]);
    let server = Server::builder().in_dir(server.stop()).start();
    assert_holds(&server, &expected);
}

// ---------------------------------------------------------------- DEBUG RELOAD, SAVE + restart

#[test]
fn debug_reload_keeps_every_key_byte_for_byte() {
    let mut server = Server::start();
    let mut con = server.connect();
    write_awkward_keys(&mut con);
    let before = snapshot(&mut con);
    run(&mut con, &["DEBUG", "RELOAD"]);
    assert!(server.is_alive());
    assert_holds(&server, &before);
}

#[test]
fn save_and_restart_restores_every_key_byte_for_byte() {
    let server = Server::start();
    let mut con = server.connect();
    write_awkward_keys(&mut con);
    let before = snapshot(&mut con);
    run(&mut con, &["SAVE"]);
    let dir = server.stop();
    assert!(dir.path().join("dump.rdb").exists());
    assert_holds(&Server::builder().in_dir(dir).start(), &before);
}

// ---------------------------------------------------------------- DUMP / RESTORE

#[test]
fn dump_and_restore_copies_a_key_to_another_key() {
    let server = Server::start();
    let mut con = server.connect();
    write_awkward_keys(&mut con);
    for key in AWKWARD_MULTIMAPS {
        let payload = dump(&mut con, key);
        assert_eq!(dump_encoding_version(&payload), 2);
        let copy = [key, b":copy"].concat();
        restore(&mut con, &copy, &payload).expect("RESTORE");
        assert_eq!(key_type(&mut con, &copy), "rmultimap");
        let original = getall(&mut con, key);
        let restored = getall(&mut con, &copy);
        if original != restored {
            panic!(
                "{} restored differently:\n{}",
                show(key),
                show_difference(&original, &restored)
            );
        }
        assert_eq!(digest_value(&mut con, &copy), digest_value(&mut con, key));
        assert_eq!(dump(&mut con, &copy), payload, "{}", show(key));
    }
}

#[test]
fn dump_and_restore_copies_every_key_to_another_server() {
    let source = Server::start();
    let mut from = source.connect();
    write_awkward_keys(&mut from);
    let target = Server::start();
    let mut to = target.connect();
    let keys: Vec<Bytes> = query(&mut from, ("KEYS", "*"));
    for key in &keys {
        restore(&mut to, key, &dump(&mut from, key)).expect("RESTORE");
    }
    assert_same_dataset(&dataset(&mut from), &dataset(&mut to));
    assert_eq!(digest(&mut to), digest(&mut from));
}

#[test]
fn restore_onto_an_existing_key_needs_replace() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, b"source", b"f", &["a", "b"]);
    insert(&mut con, b"target", b"g", &["old"]);
    let payload = dump(&mut con, b"source");
    let refused = error_reply(&mut con, ("RESTORE", "target", 0, &payload));
    assert_eq!(refused, BUSYKEY);
    assert_eq!(getall(&mut con, b"target"), content(&[("g", &["old"])]));
}

#[test]
fn restore_replace_overwrites_a_multimap_or_another_type() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, b"source", b"f", &["a", "b"]);
    insert(&mut con, b"source", b"\0", &["\0"]);
    let expected = getall(&mut con, b"source");
    let payload = dump(&mut con, b"source");

    insert(&mut con, b"multimap", b"f", &["old", "older"]);
    insert(&mut con, b"multimap", b"other", &["gone"]);
    restore_replace(&mut con, b"multimap", &payload);
    assert_eq!(getall(&mut con, b"multimap"), expected);

    run(&mut con, ("SET", "string", "v"));
    restore_replace(&mut con, b"string", &payload);
    assert_eq!(key_type(&mut con, b"string"), "rmultimap");
    assert_eq!(getall(&mut con, b"string"), expected);

    restore_replace(&mut con, b"absent", &payload);
    assert_eq!(getall(&mut con, b"absent"), expected);
}

#[test]
fn restored_key_is_independent_of_its_source() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, b"source", b"f", &["a", "b"]);
    insert(&mut con, b"source", b"g", &["c"]);
    let original = getall(&mut con, b"source");
    let payload = dump(&mut con, b"source");
    restore(&mut con, b"copy", &payload).expect("RESTORE");

    insert(&mut con, b"source", b"f", &["new"]);
    integer(&mut con, ("MULTIMAP.REMOVE", b"source", b"g", b"c"));
    assert_eq!(getall(&mut con, b"copy"), original);

    integer(&mut con, ("MULTIMAP.REPLACE", b"copy", b"f", b"z"));
    integer(&mut con, ("MULTIMAP.DEL", b"copy", b"g"));
    assert_eq!(
        getall(&mut con, b"source"),
        content(&[("f", &["a", "b", "new"])])
    );
    assert_eq!(getall(&mut con, b"copy"), content(&[("f", &["z"])]));

    run(&mut con, ("DEL", "source"));
    assert_eq!(getall(&mut con, b"copy"), content(&[("f", &["z"])]));
}

// ---------------------------------------------------------------- AOF

/// Writes after a rewrite that touch every write command, so the restarted
/// server must replay the incremental AOF on top of the rewritten base.
fn write_after_rewrite(con: &mut Connection) {
    let binary_key: &[u8] = b"bin\0key\xff";
    insert(con, binary_key, b"\0", &[&b"later\0"[..], b""]);
    insert(con, binary_key, b"new\xfffield", &[&b"\xff"[..]]);
    insert(con, b"new key\0", b"f", &[&b"\0"[..], b"\r\n"]);
    // The list-grade writes, logged as themselves (BPOP is logged as POP:
    // tests/blocking.rs).
    run(
        con,
        ("MULTIMAP.PREPEND", binary_key, b"\0", b"first\xff", b"\0"),
    );
    run(
        con,
        ("MULTIMAP.ADD", binary_key, b"\0", b"later\0", b"added\0"),
    );
    run(con, ("MULTIMAP.POP", binary_key, b"\0", "RIGHT"));
    run(con, ("MULTIMAP.SET", binary_key, b"\0", 0, b"set\0"));
    run(con, ("MULTIMAP.TRIM", binary_key, b"\0", 0, -2));
    run(
        con,
        ("MULTIMAP.POP", b"new key\0", b"f", "LEFT", "COUNT", 1),
    );
    assert_eq!(integer(con, ("MULTIMAP.REMOVE", b"dups", b"f", b"x")), 4);
    // Removing the last value of the last field deletes the key.
    assert_eq!(integer(con, ("MULTIMAP.REMOVE", b"dups", b"f", b"y")), 1);
    assert_eq!(integer(con, ("MULTIMAP.REMOVE", b"dups", b"g", b"x")), 1);
    integer(
        con,
        ("MULTIMAP.REPLACE", b"big", b"blob", b"\0replaced\xff", b""),
    );
    let wide_fields: Vec<Bytes> = (0..100)
        .map(|i| format!("field:{i}").into_bytes())
        .collect();
    let mut del: Vec<&[u8]> = vec![b"wide"];
    del.extend(wide_fields.iter().map(Vec::as_slice));
    assert_eq!(integer(con, ("MULTIMAP.DEL", &del)), 100);
    let _: () = redis::cmd("DEL").arg("lengths").query(con).unwrap();
}

/// With `appendfsync always` every write reaches the file before its reply,
/// so killing the server loses nothing.
fn aof_rewrite_then_later_writes_survive_restart(rdb_preamble: bool) {
    let server = Server::builder().aof(rdb_preamble).start();
    let mut con = server.connect();
    write_awkward_keys(&mut con);
    rewrite_aof(&mut con);
    let base_path = base_aof_path(server.dir.path());
    let base = std::fs::read(&base_path).expect("base AOF");
    assert_eq!(
        // Valkey 9 names its RDB format in the magic.
        base.starts_with(b"REDIS") || base.starts_with(b"VALKEY"),
        rdb_preamble,
        "{} should start with an RDB preamble exactly when configured",
        base_path.display()
    );
    if !rdb_preamble {
        // The base is commands, binary-safe: the NUL and 0xff bytes survive.
        let commands = parse_aof_commands(&base);
        assert!(commands.iter().any(|args| args[0] == b"MULTIMAP.INSERT"
            && args[1] == b"bin\0key\xff"
            && args[2] == b"\xff\xff"));
    }
    write_after_rewrite(&mut con);
    assert!(!key_exists(&mut con, b"dups"));
    assert!(!key_exists(&mut con, b"lengths"));
    let expected = snapshot(&mut con);

    let dir = server.stop();
    // Only the AOF can bring the data back.
    assert!(!dir.path().join("dump.rdb").exists());
    let server = Server::builder().aof(rdb_preamble).in_dir(dir).start();
    assert_holds(&server, &expected);
}

#[test]
fn aof_rewrite_with_rdb_preamble_then_later_writes_survive_restart() {
    aof_rewrite_then_later_writes_survive_restart(true);
}

#[test]
fn aof_rewrite_without_rdb_preamble_then_later_writes_survive_restart() {
    aof_rewrite_then_later_writes_survive_restart(false);
}

/// Rewrites `server`'s AOF (`con` is a client of it) and returns the base
/// file the rewrite wrote.
fn rewritten_base(con: &mut Connection, server: &Server) -> Vec<u8> {
    rewrite_aof(con);
    std::fs::read(base_aof_path(server.dir.path())).expect("base AOF")
}

/// A rewrite splits what it writes so that no command, however large the
/// value it rebuilds, makes the loading server hold a huge argument list.
fn assert_no_command_longer_than(commands: &[Vec<&[u8]>], max_args: usize) {
    let longest = commands.iter().map(Vec::len).max().unwrap_or(0);
    assert!(
        longest <= max_args,
        "a rewritten command has {longest} arguments"
    );
}

#[test]
fn aof_rewrite_splits_a_million_values_into_bounded_commands() {
    const VALUES: usize = 1_000_000;
    const PER_INSERT: usize = 1_000;
    const MAX_ARGS: usize = 5_000;
    let value = |i: usize| format!("{i:07}");

    let server = Server::builder().aof(false).start();
    let mut con = server.connect();
    for batch in (0..VALUES).step_by(PER_INSERT * 100) {
        let mut pipe = redis::pipe();
        for start in (batch..batch + PER_INSERT * 100).step_by(PER_INSERT) {
            let values: Vec<String> = (start..start + PER_INSERT).map(value).collect();
            pipe.cmd("MULTIMAP.INSERT")
                .arg("huge")
                .arg("field")
                .arg(values)
                .ignore();
        }
        pipe.query::<()>(&mut con).expect("pipelined INSERTs");
    }
    assert_eq!(
        integer(&mut con, ("MULTIMAP.LEN", b"huge", b"field")),
        VALUES as i64
    );
    let digest_before = digest_value(&mut con, b"huge");
    let base = rewritten_base(&mut con, &server);
    let commands = parse_aof_commands(&base);
    assert_no_command_longer_than(&commands, MAX_ARGS);
    let inserts: Vec<&Vec<&[u8]>> = commands
        .iter()
        .filter(|args| args[0].eq_ignore_ascii_case(b"MULTIMAP.INSERT"))
        .collect();
    assert!(
        inserts.len() >= VALUES / MAX_ARGS,
        "only {} MULTIMAP.INSERT commands",
        inserts.len()
    );
    // The commands rebuild the field's values, all of them, in order.
    let mut next = 0;
    for args in &inserts {
        assert_eq!((args[1], args[2]), (&b"huge"[..], &b"field"[..]));
        for rebuilt in &args[3..] {
            assert_eq!(*rebuilt, value(next).as_bytes(), "value {next}");
            next += 1;
        }
    }
    assert_eq!(next, VALUES);

    let server = Server::builder().aof(false).in_dir(server.stop()).start();
    let mut con = server.connect();
    assert_eq!(
        integer(&mut con, ("MULTIMAP.LEN", b"huge", b"field")),
        VALUES as i64
    );
    for index in [0, 1, 999, 1_000, 1_023, 1_024, 123_456, 999_998, 999_999] {
        let got: Vec<String> = redis::cmd("MULTIMAP.RANGE")
            .arg("huge")
            .arg("field")
            .arg(index)
            .arg(index)
            .query(&mut con)
            .expect("MULTIMAP.RANGE");
        assert_eq!(got, [value(index)], "value {index}");
    }
    assert_eq!(digest_value(&mut con, b"huge"), digest_before);
}

// ---------------------------------------------------------------- field expiries

/// When the soon fields of the expiring keys expire: late enough that a
/// reload, a restart or a rewrite is over before.
const SOON_IN: Duration = Duration::from_secs(4);

/// The fields that expire far in the future are all there with their times
/// (the soon ones too unless their time has come), then active expiry
/// removes the soon ones by itself on `server`, where `expired_before`
/// fields had been removed by expiry before. `timed` is what TIMED holds.
fn assert_expiries_carried_and_enforced(
    server: &Server,
    keys: &ExpiringKeys,
    timed: &TimedFields,
    expired_before: i64,
) {
    let mut con = server.connect();
    let alive = keys.assert_carried(&mut con, TIMED, timed)
        + keys.assert_carried(&mut con, VANISHING, &keys.vanishing);
    keys.assert_reclaimed(&mut con, TIMED, timed, VANISHING, expired_before + alive);
    assert_exact(&mut con, "the soon fields expired");
    assert_no_rejection_logged(server);
}

#[test]
fn debug_reload_keeps_field_expiries_which_still_expire() {
    let mut server = Server::start();
    let mut con = server.connect();
    let keys = ExpiringKeys::write(&mut con, SOON_IN);
    assert_eq!(dump_encoding_version(&dump(&mut con, TIMED)), 2);
    let expired = expired_fields(&mut con);
    run(&mut con, &["DEBUG", "RELOAD"]);
    assert!(server.is_alive());
    assert_expiries_carried_and_enforced(&server, &keys, &keys.timed, expired);
}

#[test]
fn save_and_restart_keeps_field_expiries_which_still_expire() {
    let server = Server::start();
    let mut con = server.connect();
    let keys = ExpiringKeys::write(&mut con, SOON_IN);
    run(&mut con, &["SAVE"]);
    let server = Server::builder().in_dir(server.stop()).start();
    assert_expiries_carried_and_enforced(&server, &keys, &keys.timed, 0);
}

/// A field whose time passed while the server was down is never served nor
/// kept: the restarted server holds exactly the fields still live, and a key
/// all of whose fields expired is not there.
#[test]
fn a_restart_drops_the_fields_that_expired_while_the_server_was_down() {
    let server = Server::start();
    let mut con = server.connect();
    let keys = ExpiringKeys::write(&mut con, Duration::from_millis(300));
    run(&mut con, &["SAVE"]);
    wait_for_server_time(&mut con, keys.soon_ms + 100);
    let mut server = Server::builder().in_dir(server.stop()).start();
    let mut con = server.connect();
    assert_eq!(timed_content(&mut con, TIMED), keys.after_soon(&keys.timed));
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", VANISHING)), 0);
    wait_for_key_removed(&mut con, VANISHING, keys.soon_ms);
    assert_exact(&mut con, "loading fields already expired");
    assert_eq!(dbsize(&mut con), 1);
    assert!(server.is_alive());
    assert_no_rejection_logged(&server);
}

/// The AOF logs an expiry as the absolute time it stands for, whatever the
/// command that set it, so replaying it later sets the same times.
#[test]
fn aof_logs_field_expiries_as_absolute_times_and_replays_them() {
    let server = Server::builder().aof(false).start();
    let mut con = server.connect();
    let keys = ExpiringKeys::write(&mut con, SOON_IN);
    let logged = logged_commands(server.dir.path());
    let relative = logged
        .iter()
        .find(|args| {
            args[0].eq_ignore_ascii_case(b"MULTIMAP.PEXPIREAT")
                && args.get(5).map(Vec::as_slice) == Some(&b"relative"[..])
        })
        .unwrap_or_else(|| panic!("no MULTIMAP.PEXPIREAT of field `relative` logged"));
    let time: i64 = std::str::from_utf8(&relative[2]).unwrap().parse().unwrap();
    assert_eq!(
        (time, &relative[1], &relative[3..5]),
        (
            keys.timed[&b"relative"[..]].1,
            &TIMED.to_vec(),
            &[b"FIELDS".to_vec(), b"1".to_vec()][..]
        )
    );
    assert!(
        !logged
            .iter()
            .any(|args| args[0].eq_ignore_ascii_case(b"MULTIMAP.EXPIRE")),
        "a relative expiry was logged as such"
    );
    let server = Server::builder().aof(false).in_dir(server.stop()).start();
    assert_expiries_carried_and_enforced(&server, &keys, &keys.timed, 0);
}

/// The expiries of each key in a rewritten AOF: field -> time, from its
/// `MULTIMAP.PEXPIREAT key time FIELDS n field...` commands, each of which
/// must come after every INSERT of the fields it names.
fn rewritten_expiries(commands: &[Vec<&[u8]>]) -> BTreeMap<Bytes, BTreeMap<Bytes, i64>> {
    let mut expiries: BTreeMap<Bytes, BTreeMap<Bytes, i64>> = BTreeMap::new();
    for (at, args) in commands.iter().enumerate() {
        if !args[0].eq_ignore_ascii_case(b"MULTIMAP.PEXPIREAT") {
            continue;
        }
        let shown = show_command(&args.iter().map(|arg| arg.to_vec()).collect::<Vec<_>>());
        assert!(args.len() >= 6, "{shown}");
        assert!(args[3].eq_ignore_ascii_case(b"FIELDS"), "{shown}");
        let number = |arg: &[u8]| -> i64 { std::str::from_utf8(arg).unwrap().parse().unwrap() };
        let (key, time, count) = (args[1], number(args[2]), number(args[4]));
        assert_eq!(count as usize, args.len() - 5, "{shown}");
        for field in &args[5..] {
            let later_insert = commands[at..].iter().any(|later| {
                later[0].eq_ignore_ascii_case(b"MULTIMAP.INSERT")
                    && later[1] == key
                    && later[2] == *field
            });
            assert!(!later_insert, "{shown} comes before an INSERT of its field");
            let previous = expiries
                .entry(key.to_vec())
                .or_default()
                .insert(field.to_vec(), time);
            assert_eq!(previous, None, "{shown}: a field's expiry given twice");
        }
    }
    expiries
}

/// The fields of `timed` that carry an expiry, with it.
fn expiries_of(timed: &TimedFields) -> BTreeMap<Bytes, i64> {
    timed
        .iter()
        .filter(|(_, (_, time))| *time != NO_EXPIRY)
        .map(|(field, (_, time))| (field.clone(), *time))
        .collect()
}

/// Expiry changes after a rewrite, logged as commands on top of the base:
/// one removed, one moved, one cleared by REPLACE, one new field with one.
fn change_expiries_after_rewrite(con: &mut Connection) {
    let now = server_time_ms(con);
    assert_eq!(per_field(con, "MULTIMAP.PERSIST", TIMED, &["far:0"]), [1]);
    pexpireat(con, TIMED, now + 5 * 3_600_000, &["far:1"]);
    integer(con, ("MULTIMAP.REPLACE", TIMED, "far:2", "replaced"));
    insert(con, TIMED, b"late\0", &["l"]);
    let set: Vec<i64> = query(
        con,
        ("MULTIMAP.PEXPIRE", TIMED, 9_000_000, "FIELDS", 1, b"late\0"),
    );
    assert_eq!(set, [1]);
}

fn aof_rewrite_keeps_field_expiries(rdb_preamble: bool) {
    let server = Server::builder().aof(rdb_preamble).start();
    let mut con = server.connect();
    let keys = ExpiringKeys::write(&mut con, SOON_IN);
    let base = rewritten_base(&mut con, &server);
    if !rdb_preamble {
        let expiries = rewritten_expiries(&parse_aof_commands(&base));
        let expected = BTreeMap::from([
            (TIMED.to_vec(), expiries_of(&keys.timed)),
            (VANISHING.to_vec(), expiries_of(&keys.vanishing)),
        ]);
        assert_eq!(
            expiries, expected,
            "the rewritten MULTIMAP.PEXPIREAT commands"
        );
    }
    change_expiries_after_rewrite(&mut con);
    let timed = timed_content(&mut con, TIMED);
    assert_eq!(timed[&b"far:0"[..]].1, NO_EXPIRY);
    assert_eq!(
        timed[&b"far:2"[..]],
        (vec![b"replaced".to_vec()], NO_EXPIRY)
    );
    let server = Server::builder()
        .aof(rdb_preamble)
        .in_dir(server.stop())
        .start();
    assert_expiries_carried_and_enforced(&server, &keys, &timed, 0);
}

#[test]
fn aof_rewrite_with_rdb_preamble_keeps_field_expiries() {
    aof_rewrite_keeps_field_expiries(true);
}

#[test]
fn aof_rewrite_without_rdb_preamble_emits_pexpireat_after_the_inserts() {
    aof_rewrite_keeps_field_expiries(false);
}

/// Many fields sharing one expiry, and many with one each, do not become
/// one huge command, and the restarted server has every one of them.
#[test]
fn aof_rewrite_emits_field_expiries_in_bounded_commands() {
    const FIELDS: usize = 20_000;
    const MAX_ARGS: usize = 5_000;
    let server = Server::builder().aof(false).start();
    let mut con = server.connect();
    let now = server_time_ms(&mut con);
    let shared = now + 3_600_000;
    let names = |prefix: &str| -> Vec<Bytes> {
        (0..FIELDS)
            .map(|i| format!("{prefix}:{i}").into_bytes())
            .collect()
    };
    let (sharing, own) = (names("shared"), names("own"));
    for batch in sharing.chunks(1000).chain(own.chunks(1000)) {
        let mut pipe = redis::pipe();
        for field in batch {
            pipe.cmd("MULTIMAP.INSERT")
                .arg("many")
                .arg(field)
                .arg(b"\0v")
                .ignore();
        }
        pipe.exec(&mut con).expect("pipelined MULTIMAP.INSERT");
    }
    for batch in sharing.chunks(1000) {
        pexpireat(&mut con, b"many", shared, batch);
    }
    let mut pipe = redis::pipe();
    for (i, field) in own.iter().enumerate() {
        pipe.cmd("MULTIMAP.PEXPIREAT")
            .arg("many")
            .arg(shared + 1 + i as i64)
            .arg("FIELDS")
            .arg(1)
            .arg(field)
            .ignore();
    }
    pipe.exec(&mut con).expect("pipelined MULTIMAP.PEXPIREAT");
    let before = timed_content(&mut con, b"many");
    let base = rewritten_base(&mut con, &server);
    let commands = parse_aof_commands(&base);
    assert_no_command_longer_than(&commands, MAX_ARGS);
    let expiries = rewritten_expiries(&commands);
    assert_eq!(expiries.len(), 1);
    assert_eq!(expiries[&b"many"[..]], expiries_of(&before));

    let server = Server::builder().aof(false).in_dir(server.stop()).start();
    let mut con = server.connect();
    assert_eq!(timed_content(&mut con, b"many"), before);
    assert_eq!(fields_with_expiry(&mut con), 2 * FIELDS as i64);
}

#[test]
fn dump_and_restore_keep_field_expiries_which_still_expire() {
    let server = Server::start();
    let mut con = server.connect();
    // A key RESTORE REPLACE overwrites: its own expiring field must leave
    // with it, and the new content must not lose anything at that time.
    insert(&mut con, b"victim", b"old", &["o"]);
    insert(&mut con, b"victim", b"keep", &["k"]);
    let keys = ExpiringKeys::write(&mut con, SOON_IN);
    pexpireat(&mut con, b"victim", keys.soon_ms - 1000, &["old", "keep"]);
    let timed = dump(&mut con, TIMED);
    let vanishing = dump(&mut con, VANISHING);
    assert_eq!(dump_encoding_version(&timed), 2);
    restore(&mut con, b"timed:copy", &timed).expect("RESTORE");
    restore(&mut con, b"vanishing:copy", &vanishing).expect("RESTORE");
    restore_replace(&mut con, b"victim", &timed);

    let other = Server::start();
    let mut to = other.connect();
    restore(&mut to, TIMED, &timed).expect("RESTORE on another server");
    restore(&mut to, VANISHING, &vanishing).expect("RESTORE on another server");
    assert_expiries_carried_and_enforced(&other, &keys, &keys.timed, 0);

    let mut alive = 0;
    for (key, expected) in [
        (TIMED, &keys.timed),
        (b"timed:copy", &keys.timed),
        (b"victim", &keys.timed),
        (VANISHING, &keys.vanishing),
        (b"vanishing:copy", &keys.vanishing),
    ] {
        alive += keys.assert_carried(&mut con, key, expected);
    }
    wait_for_key_removed(&mut con, b"vanishing:copy", keys.soon_ms);
    keys.assert_reclaimed(&mut con, TIMED, &keys.timed, VANISHING, alive);
    for key in [&b"timed:copy"[..], b"victim"] {
        assert_eq!(
            timed_content(&mut con, key),
            keys.after_soon(&keys.timed),
            "{}",
            show(key)
        );
    }
    assert_exact(&mut con, "the restored keys' soon fields expired");
}

/// A DUMP taken before some of its fields expired restores without them
/// (dropped while loading, not left for active expiry to find); one all of
/// whose fields expired restores no key.
#[test]
fn restore_drops_the_fields_that_expired_since_the_dump() {
    let mut server = Server::start();
    let mut con = server.connect();
    let keys = ExpiringKeys::write(&mut con, Duration::from_millis(300));
    let timed = dump(&mut con, TIMED);
    let vanishing = dump(&mut con, VANISHING);
    keys.assert_reclaimed(&mut con, TIMED, &keys.timed, VANISHING, 2);
    assert_exact(&mut con, "the soon fields expired");

    restore(&mut con, b"late", &timed).expect("RESTORE of a partly expired key");
    assert_eq!(
        timed_content(&mut con, b"late"),
        keys.after_soon(&keys.timed)
    );
    assert_eq!(
        per_field(&mut con, "MULTIMAP.PTTL", b"late", &[SOON]),
        [NO_FIELD]
    );
    assert_exact(&mut con, "restoring a partly expired key");

    match restore(&mut con, b"none", &vanishing) {
        Ok(()) => wait_for_key_removed(&mut con, b"none", keys.soon_ms),
        Err(error) => assert_eq!(error_text(&error), BAD_DATA_FORMAT),
    }
    assert!(!key_exists(&mut con, b"none"));
    assert_exact(&mut con, "restoring a wholly expired key");
    assert!(server.is_alive());
}
