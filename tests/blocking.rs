//! MULTIMAP.BPOP with real clients blocked on their own threads: served at
//! once when values are there, else woken by the writes that bring values
//! (INSERT, PREPEND, ADD, REPLACE, and RESTORE/COPY/RENAME bringing a
//! MultiMap key), first come first served, each write serving as many
//! waiters as it has values for and replying as if none waited; timeouts,
//! CLIENT UNBLOCK, disconnects, keys deleted or retyped under a waiter;
//! never blocking in MULTI/EXEC or scripts; READONLY on replicas, MOVED in a
//! cluster; served pops replicated and AOF-logged as MULTIMAP.POP, firing
//! `multimap.pop` and invalidating WATCH; `multimap_blocked_clients` exact.
//!
//! Every wait is bounded: a client is seen blocked through CLIENT LIST, and
//! its reply must come within seconds (see tests/common/blocked.rs).

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use redis::{Connection, Value};

use common::{
    blocked_clients, cluster_client, digest, dump, error_reply, get, getall, insert, integer,
    is_at_least, key_exists, key_slot, logged_commands, multimap_blocked_clients, query, run,
    served_slots, show_command, start_cluster, text, wait_for_blocked_clients, wait_in_sync, Bytes,
    Server, Waiter, Wire, COUNT_NOT_ABOVE_ZERO, SYNTAX, TIMEOUT_NEGATIVE, TIMEOUT_NOT_A_FLOAT,
    TIMEOUT_OUT_OF_RANGE, WRONGTYPE,
};

fn texts(values: &[&str]) -> Vec<Bytes> {
    values
        .iter()
        .map(|value| value.as_bytes().to_vec())
        .collect()
}

/// The values of an array reply.
fn values(reply: &Value) -> Vec<Bytes> {
    redis::from_redis_value_ref(reply).unwrap_or_else(|_| panic!("values, got {reply:?}"))
}

// ---------------------------------------------------------------- served at once

#[test]
fn bpop_with_values_present_pops_at_once_as_pop_count_does() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c", "d"]);
    let started = Instant::now();
    let left: Vec<String> = query(&mut con, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0, "COUNT", 2));
    assert_eq!(left, ["a", "b"]);
    let right: Vec<String> = query(&mut con, ("MULTIMAP.BPOP", "k", "f", "right", "5"));
    assert_eq!(right, ["d"], "no COUNT pops one, still as an array");
    let rest: Vec<String> = query(&mut con, ("MULTIMAP.BPOP", "k", "f", "Left", 1, "count", 9));
    assert_eq!(rest, ["c"], "COUNT takes up to what the field holds");
    assert!(started.elapsed() < Duration::from_secs(1), "nothing waited");
    assert!(!key_exists(&mut con, "k"), "the emptied key is gone");
    assert_eq!(multimap_blocked_clients(&mut con), 0);
}

#[test]
fn bpop_right_with_count_pops_the_last_value_first() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    insert(&mut con, "k", "g", &["x"]);
    let popped: Vec<String> = query(
        &mut con,
        ("MULTIMAP.BPOP", "k", "f", "RIGHT", 0, "COUNT", 2),
    );
    assert_eq!(popped, ["c", "b"]);
    assert_eq!(get(&mut con, "k", "f"), ["a"]);
    assert_eq!(get(&mut con, "k", "g"), ["x"]);
}

// ---------------------------------------------------------------- timeouts

/// The exact bytes of a BPOP that times out, and of a BLPOP that does.
fn timeout_bytes(server: &Server, resp3: bool) -> (Vec<u8>, Vec<u8>) {
    let mut wire = if resp3 {
        Wire::connect_resp3(server)
    } else {
        Wire::connect(server)
    };
    let ours = wire.call(&[b"MULTIMAP.BPOP", b"k", b"f", b"LEFT", b"0.05"]);
    let native = wire.call(&[b"BLPOP", b"list", b"0.05"]);
    (ours, native)
}

#[test]
fn bpop_times_out_with_a_null_array_as_blpop_does() {
    let server = Server::start();
    let mut con = server.connect();
    // A key holding another field: only `f` is waited on.
    insert(&mut con, "k", "g", &["x"]);
    assert_eq!(
        timeout_bytes(&server, false),
        (b"*-1\r\n".to_vec(), b"*-1\r\n".to_vec())
    );
    assert_eq!(
        timeout_bytes(&server, true),
        (b"_\r\n".to_vec(), b"_\r\n".to_vec())
    );
    assert_eq!(get(&mut con, "k", "g"), ["x"]);
    assert_eq!(multimap_blocked_clients(&mut con), 0);
    assert_eq!(blocked_clients(&mut con), 0);
}

#[test]
fn decimal_timeouts_wait_that_long() {
    let server = Server::start();
    for (timeout, least) in [("0.3", 300), (".25", 250), ("0.0001", 0), ("1e-1", 100)] {
        let mut con = server.connect();
        let started = Instant::now();
        let reply: Value = query(&mut con, ("MULTIMAP.BPOP", "k", "f", "LEFT", timeout));
        let waited = started.elapsed();
        assert_eq!(reply, Value::Nil, "{timeout}");
        assert!(
            waited >= Duration::from_millis(least) && waited < Duration::from_millis(least + 2000),
            "timeout {timeout} waited {waited:?}"
        );
    }
}

#[test]
fn timeout_zero_waits_until_served() {
    let server = Server::start();
    let mut con = server.connect();
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    // Longer than any timeout a bug might take 0 for.
    sleep(Duration::from_millis(1200));
    waiter.assert_waiting(&mut con);
    insert(&mut con, "k", "f", &["v"]);
    assert_eq!(waiter.values(), texts(&["v"]));
}

#[test]
fn resp3_waiters_get_an_array_when_served_and_null_on_timeout() {
    let server = Server::start();
    let mut con = server.connect();
    let waiter = Waiter::block_resp3(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0, "COUNT", 2));
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    assert_eq!(waiter.values(), texts(&["a", "b"]));
    let mut resp3 = server.connect_resp3();
    let reply: Value = query(&mut resp3, ("MULTIMAP.BPOP", "k", "g", "LEFT", "0.05"));
    assert_eq!(reply, Value::Nil);
}

// ---------------------------------------------------------------- argument errors

/// Where a native BLPOP words a timeout error differently from what BPOP
/// replies: Redis 7.0 and 6.2 wrap a timeout too large for the clock around
/// and call it negative; newer servers, and BPOP everywhere, call it out of
/// range.
fn blpop_timeout_text_for(ours: &str) -> &str {
    if ours == TIMEOUT_OUT_OF_RANGE && !is_at_least((7, 2), (7, 2)) {
        TIMEOUT_NEGATIVE
    } else {
        ours
    }
}

#[test]
fn bad_timeouts_get_blpops_errors() {
    let server = Server::start();
    let mut con = server.connect();
    for (timeout, expected) in [
        ("abc", TIMEOUT_NOT_A_FLOAT),
        ("", TIMEOUT_NOT_A_FLOAT),
        ("nan", TIMEOUT_NOT_A_FLOAT),
        ("1s", TIMEOUT_NOT_A_FLOAT),
        ("-1", TIMEOUT_NEGATIVE),
        ("-0.5", TIMEOUT_NEGATIVE),
        ("1e100", TIMEOUT_OUT_OF_RANGE),
        ("inf", TIMEOUT_OUT_OF_RANGE),
        ("99999999999999999", TIMEOUT_OUT_OF_RANGE),
    ] {
        let ours = error_reply(&mut con, ("MULTIMAP.BPOP", "k", "f", "LEFT", timeout));
        assert_eq!(ours, expected, "timeout {timeout:?}");
        let native = error_reply(&mut con, ("BLPOP", "list", timeout));
        assert_eq!(
            native,
            blpop_timeout_text_for(expected),
            "BLPOP timeout {timeout:?}"
        );
    }
    assert_eq!(blocked_clients(&mut con), 0);
}

#[test]
fn argument_errors_come_in_the_contracts_order() {
    let server = Server::start();
    let mut con = server.connect();
    run(&mut con, ("SET", "string", "x"));
    let cases: [(&[&str], &str); 13] = [
        (&["UP", "0"], SYNTAX),
        (&["UP", "abc", "COUNT", "0"], SYNTAX),
        (&["LEFT", "0", "COUNT", "0"], COUNT_NOT_ABOVE_ZERO),
        (&["LEFT", "0", "COUNT", "-1"], COUNT_NOT_ABOVE_ZERO),
        (&["LEFT", "0", "COUNT", "abc"], COUNT_NOT_ABOVE_ZERO),
        (&["LEFT", "0", "COUNT", "1.5"], COUNT_NOT_ABOVE_ZERO),
        (&["LEFT", "abc", "COUNT", "0"], COUNT_NOT_ABOVE_ZERO),
        (&["LEFT", "0", "COUNT"], SYNTAX),
        (&["LEFT", "0", "FOO", "1"], SYNTAX),
        (&["LEFT", "0", "COUNT", "1", "COUNT", "1"], SYNTAX),
        (&["LEFT", "0", "1"], SYNTAX),
        (&["LEFT", "abc", "COUNT", "1"], TIMEOUT_NOT_A_FLOAT),
        (&["LEFT", "-1"], TIMEOUT_NEGATIVE),
    ];
    for (rest, expected) in cases {
        let mut line = vec!["MULTIMAP.BPOP", "k", "f"];
        line.extend(rest);
        assert_eq!(error_reply(&mut con, &line), expected, "{line:?}");
        // The type is checked last.
        let mut on_string = line.clone();
        on_string[1] = "string";
        assert_eq!(error_reply(&mut con, &on_string), expected, "{on_string:?}");
    }
    let on_string = ("MULTIMAP.BPOP", "string", "f", "LEFT", 0, "COUNT", 3);
    assert_eq!(error_reply(&mut con, on_string), WRONGTYPE);
    run(&mut con, ("RPUSH", "list", "a"));
    assert_eq!(
        error_reply(&mut con, ("MULTIMAP.BPOP", "list", "f", "LEFT", "0.01")),
        WRONGTYPE
    );
    assert_eq!(blocked_clients(&mut con), 0);
}

// ---------------------------------------------------------------- woken by writes

/// Each write that brings values to the field serves a waiter, and replies
/// what it would without one.
#[test]
fn waiters_are_served_by_every_write_that_brings_values() {
    let server = Server::start();
    let mut con = server.connect();
    let writes: [(&[&str], i64, &[&str]); 5] = [
        (&["MULTIMAP.INSERT", "k", "f", "a", "b", "c"], 3, &["a"]),
        (&["MULTIMAP.PREPEND", "k", "f", "x", "y"], 2, &["x"]),
        (&["MULTIMAP.ADD", "k", "f", "p", "p", "q"], 2, &["p"]),
        (&["MULTIMAP.REPLACE", "k", "f", "r", "s"], 2, &["r"]),
        (&["MULTIMAP.INSERT", "k", "f", "last"], 1, &["last"]),
    ];
    for (write, reply, served) in writes {
        // Empty the field each time, keeping the key through another field.
        run(&mut con, ("MULTIMAP.DEL", "k", "f"));
        run(&mut con, ("MULTIMAP.REPLACE", "k", "other", "o"));
        let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
        assert_eq!(integer(&mut con, write), reply, "{write:?}");
        assert_eq!(waiter.values(), texts(served), "{write:?}");
    }
    assert_eq!(get(&mut con, "k", "other"), ["o"]);
    assert_eq!(multimap_blocked_clients(&mut con), 0);
}

/// The writer replies as if nobody waited, even when waiters take every
/// value it brought.
#[test]
fn a_write_whose_values_all_go_to_waiters_replies_as_without_them() {
    let server = Server::start();
    let mut con = server.connect();
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "RIGHT", 0, "COUNT", 5));
    assert_eq!(insert(&mut con, "k", "f", &["a", "b", "c"]), 3);
    assert_eq!(waiter.values(), texts(&["c", "b", "a"]));
    assert!(!key_exists(&mut con, "k"), "the served pop emptied the key");
}

#[test]
fn keys_arriving_through_restore_copy_and_rename_serve_waiters() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "source", "f", &["a", "b"]);
    let payload = dump(&mut con, "source");

    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    run(&mut con, ("RESTORE", "k", 0, &payload[..]));
    assert_eq!(waiter.values(), texts(&["a"]), "RESTORE");
    assert_eq!(get(&mut con, "k", "f"), ["b"]);
    run(&mut con, ("DEL", "k"));

    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    run(&mut con, ("COPY", "source", "k"));
    assert_eq!(waiter.values(), texts(&["a"]), "COPY");
    assert_eq!(
        get(&mut con, "source", "f"),
        ["a", "b"],
        "COPY left the source"
    );
    run(&mut con, ("DEL", "k"));

    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "RIGHT", 0, "COUNT", 2));
    run(&mut con, ("RENAME", "source", "k"));
    assert_eq!(waiter.values(), texts(&["b", "a"]), "RENAME");
    assert!(!key_exists(&mut con, "k"));
    assert!(!key_exists(&mut con, "source"));
}

// ---------------------------------------------------------------- many waiters

/// Waiters that each blocked before the next, in that order.
fn waiters_in_order(server: &Server, lines: &[Vec<String>]) -> Vec<Waiter> {
    lines
        .iter()
        .map(|line| Waiter::block(server, line))
        .collect()
}

fn bpop_line(key: &str, field: &str, end: &str, count: Option<i64>) -> Vec<String> {
    let mut line = vec!["MULTIMAP.BPOP", key, field, end, "0"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    if let Some(count) = count {
        line.extend(["COUNT".to_owned(), count.to_string()]);
    }
    line
}

#[test]
fn waiters_on_one_field_are_served_first_come_first_served() {
    let server = Server::start();
    let mut con = server.connect();
    let lines: Vec<Vec<String>> = (0..4).map(|_| bpop_line("k", "f", "LEFT", None)).collect();
    let waiters = waiters_in_order(&server, &lines);
    for value in ["1", "2", "3", "4"] {
        insert(&mut con, "k", "f", &[value]);
    }
    let served: Vec<Vec<Bytes>> = waiters.into_iter().map(Waiter::values).collect();
    assert_eq!(served, ["1", "2", "3", "4"].map(|value| texts(&[value])));
}

#[test]
fn one_write_serves_as_many_waiters_as_it_brings_values_and_the_rest_wait() {
    let server = Server::start();
    let mut con = server.connect();
    let lines: Vec<Vec<String>> = (0..5)
        .map(|_| bpop_line("k", "f", "LEFT", Some(1)))
        .collect();
    let mut waiters = waiters_in_order(&server, &lines);
    assert_eq!(multimap_blocked_clients(&mut con), 5);
    assert_eq!(insert(&mut con, "k", "f", &["a", "b", "c"]), 3);
    let still = waiters.split_off(3);
    let served: Vec<Vec<Bytes>> = waiters.into_iter().map(Waiter::values).collect();
    assert_eq!(served, [texts(&["a"]), texts(&["b"]), texts(&["c"])]);
    for waiter in &still {
        waiter.assert_waiting(&mut con);
    }
    assert_eq!(multimap_blocked_clients(&mut con), 2);
    assert!(!key_exists(&mut con, "k"));
    assert_eq!(insert(&mut con, "k", "f", &["d", "e", "f"]), 3);
    let served: Vec<Vec<Bytes>> = still.into_iter().map(Waiter::values).collect();
    assert_eq!(served, [texts(&["d"]), texts(&["e"])]);
    assert_eq!(get(&mut con, "k", "f"), ["f"]);
    assert_eq!(multimap_blocked_clients(&mut con), 0);
}

#[test]
fn count_n_waiters_take_up_to_n_values_in_turn() {
    let server = Server::start();
    let mut con = server.connect();
    let lines = [
        bpop_line("k", "f", "LEFT", Some(2)),
        bpop_line("k", "f", "RIGHT", Some(3)),
        bpop_line("k", "f", "LEFT", Some(2)),
    ];
    let waiters = waiters_in_order(&server, &lines);
    assert_eq!(insert(&mut con, "k", "f", &["a", "b", "c", "d"]), 4);
    let mut waiters = waiters.into_iter();
    assert_eq!(waiters.next().unwrap().values(), texts(&["a", "b"]));
    assert_eq!(waiters.next().unwrap().values(), texts(&["d", "c"]));
    let third = waiters.next().unwrap();
    third.assert_waiting(&mut con);
    assert_eq!(insert(&mut con, "k", "f", &["e"]), 1);
    assert_eq!(
        third.values(),
        texts(&["e"]),
        "fewer than COUNT serve the waiter"
    );
}

#[test]
fn waiters_on_another_field_or_key_are_not_woken() {
    let server = Server::start();
    let mut con = server.connect();
    let on_g = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "g", "LEFT", 0));
    let on_j = Waiter::block(&server, ("MULTIMAP.BPOP", "j", "f", "LEFT", 0));
    insert(&mut con, "k", "f", &["v"]);
    run(&mut con, ("MULTIMAP.PREPEND", "k", "h", "w"));
    run(&mut con, ("RPUSH", "j2", "native"));
    on_g.assert_waiting(&mut con);
    on_j.assert_waiting(&mut con);
    assert_eq!(multimap_blocked_clients(&mut con), 2);
    insert(&mut con, "k", "g", &["mine"]);
    assert_eq!(on_g.values(), texts(&["mine"]));
    on_j.assert_waiting(&mut con);
    assert_eq!(
        get(&mut con, "k", "f"),
        ["v"],
        "the other fields are untouched"
    );
    assert_eq!(get(&mut con, "k", "h"), ["w"]);
    insert(&mut con, "j", "f", &["x"]);
    assert_eq!(on_j.values(), texts(&["x"]));
}

// ---------------------------------------------------------------- never blocking

#[test]
fn inside_multi_exec_bpop_never_blocks_and_acts_as_pop_count() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    let started = Instant::now();
    let replies: Vec<Value> = redis::pipe()
        .atomic()
        .cmd("MULTIMAP.BPOP")
        .arg(&["k", "f", "LEFT", "0", "COUNT", "2"])
        .cmd("MULTIMAP.BPOP")
        .arg(&["k", "f", "RIGHT", "0"])
        .cmd("MULTIMAP.BPOP")
        .arg(&["k", "f", "LEFT", "0"])
        .cmd("MULTIMAP.BPOP")
        .arg(&["k", "nofield", "LEFT", "5", "COUNT", "3"])
        .query(&mut con)
        .expect("MULTI/EXEC");
    assert!(started.elapsed() < Duration::from_secs(2), "nothing waited");
    assert_eq!(values(&replies[0]), texts(&["a", "b"]));
    assert_eq!(values(&replies[1]), texts(&["c"]));
    assert_eq!(replies[2], Value::Nil);
    assert_eq!(replies[3], Value::Nil);
    assert_eq!(blocked_clients(&mut con), 0);
}

#[test]
fn inside_multi_exec_an_empty_field_is_a_null_array() {
    let server = Server::start();
    let mut wire = Wire::connect(&server);
    assert_eq!(wire.call(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(
        wire.call(&[b"MULTIMAP.BPOP", b"k", b"f", b"LEFT", b"0"]),
        b"+QUEUED\r\n"
    );
    assert_eq!(wire.call(&[b"EXEC"]), b"*1\r\n*-1\r\n");
}

#[test]
fn from_scripts_bpop_never_blocks_and_acts_as_pop_count() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    let script = "local got = redis.call('MULTIMAP.BPOP', KEYS[1], 'f', 'RIGHT', 0, 'COUNT', 2); \
                  local none = redis.call('MULTIMAP.BPOP', KEYS[1], 'g', 'LEFT', 0); \
                  if none == false then table.insert(got, 'none was nil') end; \
                  return got";
    let started = Instant::now();
    let reply: Vec<String> = query(&mut con, ("EVAL", script, 1, "k"));
    assert!(started.elapsed() < Duration::from_secs(2), "nothing waited");
    assert_eq!(reply, ["c", "b", "none was nil"]);
    assert_eq!(get(&mut con, "k", "f"), ["a"]);
    assert_eq!(blocked_clients(&mut con), 0);
}

// ---------------------------------------------------------------- ending a wait

#[test]
fn client_unblock_ends_the_wait_with_nil_or_an_unblocked_error() {
    let server = Server::start();
    let mut con = server.connect();
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    assert_eq!(integer(&mut con, ("CLIENT", "UNBLOCK", waiter.id)), 1);
    assert_eq!(waiter.value(), Value::Nil);

    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    assert_eq!(
        integer(&mut con, ("CLIENT", "UNBLOCK", waiter.id, "ERROR")),
        1
    );
    let error = waiter.reply().expect_err("an UNBLOCKED error");
    assert_eq!(error.code(), Some("UNBLOCKED"), "{error}");

    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    assert_eq!(
        integer(&mut con, ("CLIENT", "UNBLOCK", waiter.id, "TIMEOUT")),
        1
    );
    assert_eq!(waiter.value(), Value::Nil);
    assert_eq!(multimap_blocked_clients(&mut con), 0);
    // Nobody waits now: a write stays where it is.
    insert(&mut con, "k", "f", &["v"]);
    assert_eq!(get(&mut con, "k", "f"), ["v"]);
}

#[test]
fn the_exact_bytes_of_client_unblock_are_a_null_array() {
    let server = Server::start();
    let mut con = server.connect();
    let mut wire = Wire::connect(&server);
    let id = wire.call(&[b"CLIENT", b"ID"]);
    let id: i64 = std::str::from_utf8(&id[1..id.len() - 2])
        .unwrap()
        .parse()
        .unwrap();
    wire.send(&[b"MULTIMAP.BPOP", b"k", b"f", b"LEFT", b"0"]);
    wait_for_blocked_clients(&mut con, 1);
    assert_eq!(integer(&mut con, ("CLIENT", "UNBLOCK", id)), 1);
    assert_eq!(wire.reply(), b"*-1\r\n");
}

#[test]
fn a_client_that_disconnects_while_blocked_leaves_nothing_behind() {
    let mut server = Server::start();
    let mut con = server.connect();
    for _ in 0..3 {
        let mut wire = Wire::connect(&server);
        wire.send(&[b"MULTIMAP.BPOP", b"k", b"f", b"LEFT", b"0", b"COUNT", b"2"]);
    }
    // Each Wire dropped right after sending: the server may see the command or
    // only the closed socket; either way nothing may stay blocked.
    let mut kept = Wire::connect(&server);
    kept.send(&[b"MULTIMAP.BPOP", b"k", b"f", b"LEFT", b"0"]);
    wait_for_blocked_clients(&mut con, 1);
    drop(kept);
    wait_for_blocked_clients(&mut con, 0);
    assert_eq!(multimap_blocked_clients(&mut con), 0);
    insert(&mut con, "k", "f", &["v"]);
    assert_eq!(get(&mut con, "k", "f"), ["v"], "no gone client took it");
    assert!(server.is_alive());
    let pong: String = query(&mut con, "PING");
    assert_eq!(pong, "PONG");
}

#[test]
fn killed_waiters_are_no_longer_counted() {
    let server = Server::start();
    let mut con = server.connect();
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    assert_eq!(multimap_blocked_clients(&mut con), 1);
    run(&mut con, ("CLIENT", "KILL", "ID", waiter.id));
    assert!(waiter.reply().is_err(), "the connection was closed");
    wait_for_blocked_clients(&mut con, 0);
    assert_eq!(multimap_blocked_clients(&mut con), 0);
}

// ---------------------------------------------------------------- the key changing under a waiter

#[test]
fn delete_flush_and_retype_keep_the_waiter_waiting_until_its_timeout() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "g", &["x"]);
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", "1.5"));
    run(&mut con, ("DEL", "k"));
    waiter.assert_waiting(&mut con);
    insert(&mut con, "k", "g", &["y"]);
    run(&mut con, "FLUSHALL");
    waiter.assert_waiting(&mut con);
    run(&mut con, ("SET", "k", "a string"));
    waiter.assert_waiting(&mut con);
    run(&mut con, ("DEL", "k"));
    run(&mut con, ("RPUSH", "k", "a list"));
    waiter.assert_waiting(&mut con);
    assert_eq!(waiter.value(), Value::Nil, "timed out");
    let items: Vec<String> = query(&mut con, ("LRANGE", "k", 0, -1));
    assert_eq!(items, ["a list"], "the list is untouched");
}

#[test]
fn after_the_key_is_deleted_and_recreated_an_insert_serves_the_waiter() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "g", &["x"]);
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    run(&mut con, ("DEL", "k"));
    run(&mut con, "FLUSHALL");
    run(&mut con, ("SET", "k", "a string"));
    waiter.assert_waiting(&mut con);
    run(&mut con, ("DEL", "k"));
    insert(&mut con, "k", "g", &["not mine"]);
    waiter.assert_waiting(&mut con);
    insert(&mut con, "k", "f", &["mine"]);
    assert_eq!(waiter.values(), texts(&["mine"]));
    assert_eq!(get(&mut con, "k", "g"), ["not mine"]);
}

// ---------------------------------------------------------------- replicas and clusters

#[test]
fn on_a_read_only_replica_bpop_is_refused_as_a_write() {
    let master = Server::builder().master().start();
    let replica = Server::builder().replica_of(&master).start();
    let mut on_master = master.connect();
    let mut on_replica = replica.connect();
    insert(&mut on_master, "k", "f", &["v"]);
    wait_in_sync(&mut on_master, &mut on_replica);
    for line in [
        &["MULTIMAP.BPOP", "k", "f", "LEFT", "0"][..],
        &["MULTIMAP.BPOP", "nokey", "f", "LEFT", "0"],
    ] {
        let error = error_reply(&mut on_replica, line);
        assert!(error.starts_with("READONLY"), "{line:?}: {error}");
    }
    assert_eq!(blocked_clients(&mut on_replica), 0);
    assert_eq!(get(&mut on_replica, "k", "f"), ["v"]);
}

#[test]
fn in_a_cluster_bpop_on_a_key_of_another_node_is_moved() {
    let nodes = start_cluster(3);
    let mut cluster = cluster_client(&nodes);
    insert(&mut cluster, "k", "f", &["a", "b"]);
    let popped: Vec<String> = query(&mut cluster, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    assert_eq!(popped, ["a"], "the cluster client follows the key");
    let slot = key_slot(&mut nodes[0].connect(), b"k");
    let other = nodes
        .iter()
        .find(|node| {
            !served_slots(node)
                .iter()
                .any(|(first, last)| (*first..=*last).contains(&slot))
        })
        .expect("a node not serving the key");
    let error = error_reply(&mut other.connect(), ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    assert!(error.starts_with(&format!("MOVED {slot} ")), "{error}");
    let error = error_reply(
        &mut other.connect(),
        ("MULTIMAP.BPOP", "k", "nofield", "LEFT", 0),
    );
    assert!(error.starts_with(&format!("MOVED {slot} ")), "{error}");
}

/// The served pops of `bpops_of_every_kind`, as POP commands.
fn bpops_of_every_kind(server: &Server, con: &mut Connection) {
    insert(con, "k", "f", &["a", "b", "c", "d"]);
    insert(con, "k", "g", &["keep"]);
    // Served at once.
    let popped: Vec<String> = query(con, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0, "COUNT", 2));
    assert_eq!(popped, ["a", "b"]);
    let popped: Vec<String> = query(con, ("MULTIMAP.BPOP", "k", "f", "RIGHT", 0));
    assert_eq!(popped, ["d"]);
    // Served after blocking.
    let waiter = Waiter::block(server, ("MULTIMAP.BPOP", "k", "h", "RIGHT", 0, "COUNT", 2));
    insert(con, "k", "h", &["x", "y", "z"]);
    assert_eq!(waiter.values(), texts(&["z", "y"]));
    // A timeout changes nothing.
    let reply: Value = query(con, ("MULTIMAP.BPOP", "k", "nofield", "LEFT", "0.01"));
    assert_eq!(reply, Value::Nil);
}

fn expected_after_bpops() -> common::Fields {
    common::content(&[("f", &["c"]), ("g", &["keep"]), ("h", &["x"])])
}

#[test]
fn served_pops_reach_the_replica() {
    let master = Server::builder().master().start();
    let replica = Server::builder().replica_of(&master).start();
    let mut con = master.connect();
    let mut on_replica = replica.connect();
    wait_in_sync(&mut con, &mut on_replica);
    bpops_of_every_kind(&master, &mut con);
    wait_in_sync(&mut con, &mut on_replica);
    assert_eq!(getall(&mut on_replica, "k"), expected_after_bpops());
    assert_eq!(digest(&mut con), digest(&mut on_replica));
}

#[test]
fn served_pops_are_logged_as_pop_count_and_replayed_from_the_aof() {
    let server = Server::builder().aof(false).start();
    let mut con = server.connect();
    bpops_of_every_kind(&server, &mut con);
    let logged: Vec<String> = logged_commands(server.dir.path())
        .iter()
        .filter(|command| command[0].to_ascii_uppercase().starts_with(b"MULTIMAP."))
        .filter(|command| !command[0].eq_ignore_ascii_case(b"MULTIMAP.INSERT"))
        .map(|command| show_command(command))
        .collect();
    assert_eq!(
        logged,
        [
            r#"MULTIMAP.POP "k" "f" "LEFT" "COUNT" "2""#,
            r#"MULTIMAP.POP "k" "f" "RIGHT" "COUNT" "1""#,
            r#"MULTIMAP.POP "k" "h" "RIGHT" "COUNT" "2""#,
        ]
    );
    let expected = getall(&mut con, "k");
    assert_eq!(expected, expected_after_bpops());
    let dir = server.stop();
    let restarted = Server::builder().aof(false).in_dir(dir).start();
    assert_eq!(getall(&mut restarted.connect(), "k"), expected);
}

// ---------------------------------------------------------------- what others see

#[test]
fn served_pops_fire_multimap_pop_events() {
    let server = Server::builder()
        .config("notify-keyspace-events", "KEA")
        .start();
    let mut con = server.connect();
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    insert(&mut con, "k", "f", &["a", "b"]);
    let _: Value = query(&mut con, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "j", "f", "LEFT", 0, "COUNT", 5));
    insert(&mut con, "j", "f", &["x"]);
    assert_eq!(waiter.values(), texts(&["x"]));
    let _: Value = query(&mut con, ("MULTIMAP.BPOP", "k", "nofield", "LEFT", "0.01"));
    run(&mut con, ("SET", "marker", "1"));
    let mut seen = Vec::new();
    loop {
        let message = pubsub.get_message().expect("a keyspace event");
        let event = message
            .get_channel_name()
            .trim_start_matches("__keyevent@0__:")
            .to_owned();
        let key: String = message.get_payload().unwrap();
        if key == "marker" {
            break;
        }
        seen.push(format!("{event} {key}"));
    }
    assert_eq!(
        seen,
        [
            "multimap.insert k",
            "multimap.pop k",
            "multimap.insert j",
            "multimap.pop j",
            "del j",
        ]
    );
}

#[test]
fn a_served_pop_invalidates_watch_and_a_timeout_does_not() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    let survives = |line: &[&str]| {
        let mut watcher = server.connect();
        let mut other = server.connect();
        run(&mut watcher, ("WATCH", "k"));
        let _: Value = query(&mut other, line);
        run(&mut watcher, "MULTI");
        run(&mut watcher, "PING");
        let reply: Value = query(&mut watcher, "EXEC");
        reply != Value::Nil
    };
    assert!(!survives(&["MULTIMAP.BPOP", "k", "f", "LEFT", "0"]));
    assert!(survives(&["MULTIMAP.BPOP", "k", "nofield", "LEFT", "0.01"]));
    assert_eq!(get(&mut con, "k", "f"), ["b"]);
}

// ---------------------------------------------------------------- counting

#[test]
fn multimap_blocked_clients_counts_exactly_the_clients_waiting_in_bpop() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(multimap_blocked_clients(&mut con), 0);
    let first = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    let second = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 0));
    let other = Waiter::block(&server, ("MULTIMAP.BPOP", "j", "g", "RIGHT", "1"));
    let native = Waiter::block(&server, ("BLPOP", "list", 0));
    assert_eq!(multimap_blocked_clients(&mut con), 3, "BLPOP is not ours");
    assert_eq!(blocked_clients(&mut con), 4);
    insert(&mut con, "k", "f", &["v"]);
    assert_eq!(first.values(), texts(&["v"]));
    assert_eq!(multimap_blocked_clients(&mut con), 2);
    assert_eq!(other.value(), Value::Nil, "timed out");
    assert_eq!(multimap_blocked_clients(&mut con), 1);
    assert_eq!(integer(&mut con, ("CLIENT", "UNBLOCK", second.id)), 1);
    assert_eq!(second.value(), Value::Nil);
    assert_eq!(multimap_blocked_clients(&mut con), 0);
    run(&mut con, ("RPUSH", "list", "n"));
    assert_eq!(native.values(), texts(&["list", "n"]));
    assert_eq!(blocked_clients(&mut con), 0);
    let info = text(&mut con, ("INFO", "multimap"));
    assert!(info.contains("multimap_blocked_clients:0"), "{info}");
}
