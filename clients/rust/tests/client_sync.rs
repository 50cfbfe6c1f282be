//! The client on synchronous connections and pipelines, against a real
//! server with the freshly built module: every method under RESP2 and RESP3,
//! pipelines atomic or not, binary data, the scan iterator, BPOP waiting, and
//! the module's command table against the commands the client sends.

#[path = "../../../tests/common/mod.rs"]
mod common;
#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{is_client_blocked, is_redis_7, skip_unless, text, wait_until, Server, BLOCK_TIMEOUT};
use redis::{Connection, Direction, ExpireOption, LposOptions, RedisResult, Value};
use redis_multimap_client::{MultiMapCommands, MultiMapPipeline, ScanOptions, COMMANDS};
use support::{all_within, strings};

#[test]
fn every_method_sends_its_command_and_reads_its_reply_under_resp2() {
    let server = Server::start();
    let mut con = server.connect();
    every_method!(on_connection!(con), "k");
    // The scenario called each command the client knows: the server counted
    // a call of every one.
    let stats = text(&mut con, &["INFO", "commandstats"]);
    for command in COMMANDS {
        let line = format!("cmdstat_{}:calls=", command.to_lowercase());
        assert!(stats.contains(&line), "no call of {command}:\n{stats}");
    }
}

#[test]
fn every_method_reads_its_reply_under_resp3() {
    let server = Server::start();
    let mut con = server.connect_resp3();
    every_method!(on_connection!(con), "k");
}

#[test]
fn every_method_in_a_pipeline() {
    let server = Server::start();
    let mut con = server.connect();
    let mut pipe = redis::pipe();
    every_method!(
        in_pipeline!(pipe, pipe.query(&mut con).expect("the pipeline")),
        "k"
    );
}

#[test]
fn every_method_in_an_atomic_pipeline_under_resp3() {
    let server = Server::start();
    let mut con = server.connect_resp3();
    let mut pipe = redis::pipe();
    pipe.atomic();
    every_method!(
        in_pipeline!(pipe, pipe.query(&mut con).expect("the transaction")),
        "k"
    );
}

#[test]
fn the_module_has_no_command_the_client_lacks_nor_the_client_one_the_module_lacks() {
    let server = Server::start();
    let mut con = server.connect();
    let table: Vec<Vec<Value>> = redis::cmd("COMMAND").query(&mut con).expect("COMMAND");
    let module_commands: BTreeSet<String> = table
        .iter()
        .map(|info| redis::from_redis_value_ref::<String>(&info[0]).expect("a command name"))
        .filter(|name| name.starts_with("multimap."))
        .collect();
    let client_commands: BTreeSet<String> =
        COMMANDS.iter().map(|name| name.to_lowercase()).collect();
    assert!(
        module_commands.len() >= 32,
        "the server lists too few MULTIMAP commands: {module_commands:?}"
    );
    let missing: Vec<_> = module_commands.difference(&client_commands).collect();
    assert!(missing.is_empty(), "no client method sends {missing:?}");
    let unknown: Vec<_> = client_commands.difference(&module_commands).collect();
    assert!(unknown.is_empty(), "the module has no {unknown:?}");
}

#[test]
fn getall_reads_the_resp3_map_as_a_map_or_as_pairs() {
    if skip_unless(is_redis_7(), "modules reply RESP3 maps since Redis 7.0") {
        return;
    }
    let server = Server::start();
    let mut con = server.connect_resp3();
    let _: usize = con.multimap_insert("k", "f", &["a", "b"]).unwrap();
    let _: usize = con.multimap_insert("k", "g", "c").unwrap();
    let raw: Value = con.multimap_getall("k").unwrap();
    assert!(matches!(raw, Value::Map(_)), "GETALL under RESP3: {raw:?}");
    let map: HashMap<String, Vec<String>> = con.multimap_getall("k").unwrap();
    assert_eq!(
        map,
        HashMap::from([
            ("f".to_owned(), strings(&["a", "b"])),
            ("g".to_owned(), strings(&["c"]))
        ])
    );
    let mut pairs: Vec<(String, Vec<String>)> = con.multimap_getall("k").unwrap();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("f".to_owned(), strings(&["a", "b"])),
            ("g".to_owned(), strings(&["c"]))
        ]
    );
}

/// Bytes that text would mangle: NUL, invalid UTF-8, the empty string.
const BINARY_KEY: &[u8] = b"key\x00\xff";
const BINARY_FIELD: &[u8] = b"\xc3\x28field\x00";
const BINARY_VALUES: [&[u8]; 4] = [b"", b"\x00", b"\xff\xfe\x80", b"a\r\nb"];

fn binary_values_round_trip(con: &mut Connection) {
    let values: Vec<Vec<u8>> = BINARY_VALUES.iter().map(|value| value.to_vec()).collect();
    let len: usize = con
        .multimap_insert(BINARY_KEY, BINARY_FIELD, &BINARY_VALUES)
        .unwrap();
    assert_eq!(len, 4);
    let got: Vec<Vec<u8>> = con.multimap_get(BINARY_KEY, BINARY_FIELD).unwrap();
    assert_eq!(got, values);
    let everything: HashMap<Vec<u8>, Vec<Vec<u8>>> = con.multimap_getall(BINARY_KEY).unwrap();
    assert_eq!(
        everything,
        HashMap::from([(BINARY_FIELD.to_vec(), values.clone())])
    );
    let scanned: Vec<(Vec<u8>, Vec<Vec<u8>>)> = con
        .multimap_scan_iter(
            BINARY_KEY,
            ScanOptions::default().with_pattern(&b"\xc3*"[..]),
        )
        .unwrap()
        .collect::<RedisResult<_>>()
        .unwrap();
    assert_eq!(scanned, [(BINARY_FIELD.to_vec(), values.clone())]);
    let fields: Vec<Vec<u8>> = con.multimap_fields(BINARY_KEY).unwrap();
    assert_eq!(fields, [BINARY_FIELD]);
    let held: bool = con
        .multimap_contains(BINARY_KEY, BINARY_FIELD, b"\xff\xfe\x80")
        .unwrap();
    assert!(held);
    let position: Option<usize> = con
        .multimap_pos(BINARY_KEY, BINARY_FIELD, b"\x00", LposOptions::default())
        .unwrap();
    assert_eq!(position, Some(1));
    let () = con
        .multimap_set(BINARY_KEY, BINARY_FIELD, 0, b"\x00\x00")
        .unwrap();
    let first: Option<Vec<u8>> = con.multimap_index(BINARY_KEY, BINARY_FIELD, 0).unwrap();
    assert_eq!(first.as_deref(), Some(&b"\x00\x00"[..]));
    let popped: Option<Vec<u8>> = con
        .multimap_pop(BINARY_KEY, BINARY_FIELD, Direction::Right, None)
        .unwrap();
    assert_eq!(popped.as_deref(), Some(&b"a\r\nb"[..]));
    let waited: Option<Vec<Vec<u8>>> = con
        .multimap_bpop(BINARY_KEY, BINARY_FIELD, Direction::Left, 1.0, Some(1))
        .unwrap();
    assert_eq!(waited, Some(vec![b"\x00\x00".to_vec()]));
    let removed: usize = con
        .multimap_remove(BINARY_KEY, BINARY_FIELD, b"\x00")
        .unwrap();
    assert_eq!(removed, 1);
    let codes: Vec<i64> = con
        .multimap_expire(BINARY_KEY, 100, ExpireOption::NONE, &[BINARY_FIELD, b""])
        .unwrap();
    assert_eq!(codes, [1, -2]);
    let left: Vec<Vec<u8>> = con.multimap_get(BINARY_KEY, BINARY_FIELD).unwrap();
    assert_eq!(left, [&b"\xff\xfe\x80"[..]]);
    let deleted: usize = con.multimap_del(BINARY_KEY, BINARY_FIELD).unwrap();
    assert_eq!(deleted, 1);
}

#[test]
fn binary_values_round_trip_under_resp2() {
    let server = Server::start();
    binary_values_round_trip(&mut server.connect());
}

#[test]
fn binary_values_round_trip_under_resp3() {
    let server = Server::start();
    binary_values_round_trip(&mut server.connect_resp3());
}

#[test]
fn scan_iter_visits_every_field_of_an_unchanged_key_once() {
    let server = Server::start();
    let mut con = server.connect();
    let mut pipe = redis::pipe();
    for field in 0..300 {
        pipe.multimap_insert("k", format!("field:{field}"), &[field, field + 1])
            .ignore();
    }
    pipe.multimap_insert("k", "other", "x").ignore();
    let () = pipe.query(&mut con).unwrap();

    let visited: Vec<(String, Vec<u64>)> = con
        .multimap_scan_iter(
            "k",
            ScanOptions::default().with_pattern("field:*").with_count(7),
        )
        .unwrap()
        .collect::<RedisResult<_>>()
        .unwrap();
    assert_eq!(visited.len(), 300, "each matching field once");
    let visited: BTreeMap<String, Vec<u64>> = visited.into_iter().collect();
    let expected: BTreeMap<String, Vec<u64>> = (0..300)
        .map(|field| (format!("field:{field}"), vec![field, field + 1]))
        .collect();
    assert_eq!(visited, expected);
}

#[test]
fn scan_steps_to_the_end_of_the_iteration_with_the_cursors_it_returns() {
    let server = Server::start();
    let mut con = server.connect();
    for field in 0..50 {
        let _: usize = con.multimap_insert("k", field, "v").unwrap();
    }
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    let mut calls = 0;
    loop {
        let (next, page): (u64, Vec<(u64, Vec<String>)>) = con
            .multimap_scan("k", cursor, ScanOptions::default().with_count(5))
            .unwrap();
        seen.extend(page.into_iter().map(|(field, _)| field));
        calls += 1;
        assert!(calls <= 50, "the iteration does not end");
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert!(calls > 1, "COUNT 5 over 50 fields took one call");
    assert_eq!(seen, (0..50).collect());
}

#[test]
fn bpop_replies_nil_when_its_timeout_runs_out() {
    let server = Server::start();
    let mut con = server.connect();
    let started = Instant::now();
    let popped: Option<Vec<String>> = con
        .multimap_bpop("jobs", "pending", Direction::Left, 0.05, None)
        .unwrap();
    assert_eq!(popped, None);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
fn bpop_waits_until_an_insert_serves_it() {
    let server = Server::start();
    let mut waiting = server.connect();
    waiting
        .set_read_timeout(Some(2 * BLOCK_TIMEOUT))
        .expect("a read timeout");
    let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut waiting).unwrap();
    let (sender, reply) = mpsc::channel();
    thread::spawn(move || {
        let popped: RedisResult<Option<Vec<String>>> =
            waiting.multimap_bpop("jobs", "pending", Direction::Left, 10.0, Some(2));
        let _ = sender.send(popped);
    });

    let mut con = server.connect();
    wait_until("the BPOP to block", BLOCK_TIMEOUT, || {
        is_client_blocked(&mut con, id)
    });
    let len: usize = con
        .multimap_insert("jobs", "pending", &["job-1", "job-2", "job-3"])
        .unwrap();
    assert_eq!(len, 3, "the insert replies as if nobody was served");
    let popped = reply
        .recv_timeout(BLOCK_TIMEOUT)
        .expect("BPOP replied")
        .unwrap();
    assert_eq!(popped, Some(strings(&["job-1", "job-2"])));
    let left: Vec<String> = con.multimap_get("jobs", "pending").unwrap();
    assert_eq!(left, ["job-3"]);
}

#[test]
fn server_errors_come_back_as_errors() {
    let server = Server::start();
    let mut con = server.connect();
    let missing: RedisResult<()> = con.multimap_set("k", "f", 0, "v");
    let error = missing.expect_err("SET on a missing field");
    assert!(error.to_string().contains("no such key"), "{error}");

    let () = redis::cmd("SET")
        .arg("text")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let wrong: RedisResult<Vec<String>> = con.multimap_get("text", "f");
    let error = wrong.expect_err("GET on a string");
    assert_eq!(error.code(), Some("WRONGTYPE"), "{error}");

    // A pipeline's query fails with the error one of its commands got.
    let mut pipe = redis::pipe();
    pipe.multimap_insert("k", "f", "v")
        .multimap_len("text", "f");
    let failed: RedisResult<(usize, usize)> = pipe.query(&mut con);
    let error = failed.expect_err("LEN on a string");
    assert!(error.to_string().contains("WRONGTYPE"), "{error}");
}
