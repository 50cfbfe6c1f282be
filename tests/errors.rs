//! Every error row of the contract, with the exact text a client receives,
//! and that no error changes data or takes the server down.

mod common;

use common::{query_error, Server};
use redis::Connection;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const INVALID_CURSOR: &str = "ERR invalid cursor";

fn command(args: &[&str]) -> redis::Cmd {
    let mut command = redis::cmd(args[0]);
    command.arg(&args[1..]);
    command
}

fn error_of(con: &mut Connection, args: &[&str]) -> String {
    query_error(&command(args), con)
}

/// Redis's arity error. Redis 7 names the command in lower case; 6.2 echoes
/// it as the client typed it, so the calls below use the lower-case name.
fn arity_error(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// One well-formed call of every command on key `key`.
fn every_command(key: &str) -> Vec<Vec<&str>> {
    vec![
        vec!["MULTIMAP.INSERT", key, "f", "v"],
        vec!["MULTIMAP.GET", key, "f"],
        vec!["MULTIMAP.VALUES", key, "f"],
        vec!["MULTIMAP.LEN", key, "f"],
        vec!["MULTIMAP.RANGE", key, "f", "0", "-1"],
        vec!["MULTIMAP.CONTAINS", key, "f", "v"],
        vec!["MULTIMAP.EXISTS", key, "f"],
        vec!["MULTIMAP.REMOVE", key, "f", "v"],
        vec!["MULTIMAP.REPLACE", key, "f", "v"],
        vec!["MULTIMAP.DEL", key, "f"],
        vec!["MULTIMAP.CARD", key],
        vec!["MULTIMAP.SIZE", key],
        vec!["MULTIMAP.FIELDS", key],
        vec!["MULTIMAP.GETALL", key],
        vec!["MULTIMAP.SCAN", key, "0"],
        vec!["MULTIMAP.SCAN", key, "0", "MATCH", "*", "COUNT", "5"],
    ]
}

// ---------------------------------------------------------------- WRONGTYPE

#[test]
fn every_command_against_a_string_key_replies_wrongtype() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: () = redis::cmd("SET")
        .arg("s")
        .arg("text")
        .query(&mut con)
        .unwrap();
    for call in every_command("s") {
        assert_eq!(error_of(&mut con, &call), WRONGTYPE, "{call:?}");
    }
    let value: String = redis::cmd("GET").arg("s").query(&mut con).unwrap();
    assert_eq!(value, "text", "a failed command changed the string");
    assert!(server.is_alive());
}

#[test]
fn every_command_against_a_list_key_replies_wrongtype() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: () = redis::cmd("RPUSH")
        .arg("l")
        .arg(&["a", "b"])
        .query(&mut con)
        .unwrap();
    for call in every_command("l") {
        assert_eq!(error_of(&mut con, &call), WRONGTYPE, "{call:?}");
    }
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(list, ["a", "b"], "a failed command changed the list");
    assert!(server.is_alive());
}

#[test]
fn commands_against_a_hash_key_reply_wrongtype() {
    let server = Server::start();
    let mut con = server.connect();
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut con)
        .unwrap();
    for call in every_command("h") {
        assert_eq!(error_of(&mut con, &call), WRONGTYPE, "{call:?}");
    }
    let value: String = redis::cmd("HGET")
        .arg("h")
        .arg("f")
        .query(&mut con)
        .unwrap();
    assert_eq!(value, "v");
}

#[test]
fn native_commands_against_a_multimap_key_reply_wrongtype() {
    let server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    for call in [
        &["GET", "k"][..],
        &["LRANGE", "k", "0", "-1"],
        &["HGET", "k", "f"],
        &["APPEND", "k", "x"],
    ] {
        assert_eq!(error_of(&mut con, call), WRONGTYPE, "{call:?}");
    }
    let values: Vec<String> = command(&["MULTIMAP.GET", "k", "f"])
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["v"]);
}

// ---------------------------------------------------------------- arity

/// Each command with its minimum well-formed arguments, and whether it takes
/// exactly those (fixed arity) or more.
const MINIMAL_CALLS: [(&[&str], bool); 15] = [
    (&["MULTIMAP.INSERT", "k", "f", "v"], false),
    (&["MULTIMAP.GET", "k", "f"], true),
    (&["MULTIMAP.VALUES", "k", "f"], true),
    (&["MULTIMAP.LEN", "k", "f"], true),
    (&["MULTIMAP.RANGE", "k", "f", "0", "1"], true),
    (&["MULTIMAP.CONTAINS", "k", "f", "v"], true),
    (&["MULTIMAP.EXISTS", "k", "f"], true),
    (&["MULTIMAP.REMOVE", "k", "f", "v"], false),
    (&["MULTIMAP.REPLACE", "k", "f", "v"], false),
    (&["MULTIMAP.DEL", "k", "f"], false),
    (&["MULTIMAP.CARD", "k"], true),
    (&["MULTIMAP.SIZE", "k"], true),
    (&["MULTIMAP.FIELDS", "k"], true),
    (&["MULTIMAP.GETALL", "k"], true),
    (&["MULTIMAP.SCAN", "k", "0"], false),
];

#[test]
fn every_command_with_too_few_arguments_gets_redis_arity_error() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    for (call, _) in MINIMAL_CALLS {
        for len in 1..call.len() {
            let mut short = call[..len].to_vec();
            let name = call[0].to_lowercase();
            short[0] = &name;
            assert_eq!(error_of(&mut con, &short), arity_error(&name), "{short:?}");
        }
    }
    let values: Vec<String> = command(&["MULTIMAP.GET", "k", "f"])
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["v"]);
    assert!(server.is_alive());
}

#[test]
fn fixed_arity_commands_with_too_many_arguments_get_redis_arity_error() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    for (call, fixed) in MINIMAL_CALLS {
        if !fixed {
            continue;
        }
        for extra in [&["x"][..], &["x", "y", "z"]] {
            let name = call[0].to_lowercase();
            let mut long = call.to_vec();
            long[0] = &name;
            long.extend_from_slice(extra);
            assert_eq!(error_of(&mut con, &long), arity_error(&name), "{long:?}");
        }
    }
    assert!(server.is_alive());
}

#[test]
fn variadic_commands_accept_many_arguments() {
    let server = Server::start();
    let mut con = server.connect();
    let values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let inserted: i64 = redis::cmd("MULTIMAP.INSERT")
        .arg("k")
        .arg("f")
        .arg(&values)
        .query(&mut con)
        .unwrap();
    assert_eq!(inserted, 1000);
    let removed: i64 = redis::cmd("MULTIMAP.REMOVE")
        .arg("k")
        .arg("f")
        .arg(&values[..600])
        .query(&mut con)
        .unwrap();
    assert_eq!(removed, 600);
    let replaced: i64 = redis::cmd("MULTIMAP.REPLACE")
        .arg("k")
        .arg("g")
        .arg(&values[..300])
        .query(&mut con)
        .unwrap();
    assert_eq!(replaced, 300);
    let deleted: i64 = redis::cmd("MULTIMAP.DEL")
        .arg("k")
        .arg(&values)
        .arg("f")
        .arg("g")
        .query(&mut con)
        .unwrap();
    assert_eq!(deleted, 2);
}

// ---------------------------------------------------------------- RANGE integers

#[test]
fn range_with_non_integer_index_replies_not_an_integer() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "a", "b"])
        .query(&mut con)
        .unwrap();
    let bad = common::NOT_INTEGERS
        .into_iter()
        .chain(["99999999999999999999999"]);
    for key in ["k", "nokey"] {
        for index in bad.clone() {
            assert_eq!(
                error_of(&mut con, &["MULTIMAP.RANGE", key, "f", index, "1"]),
                NOT_AN_INTEGER,
                "start {index:?} on {key}"
            );
            assert_eq!(
                error_of(&mut con, &["MULTIMAP.RANGE", key, "f", "0", index]),
                NOT_AN_INTEGER,
                "stop {index:?} on {key}"
            );
        }
    }
    let exists: i64 = command(&["EXISTS", "nokey"]).query(&mut con).unwrap();
    assert_eq!(exists, 0);
    assert!(server.is_alive());
}

// ---------------------------------------------------------------- SCAN options

#[test]
fn scan_count_that_is_not_an_integer_replies_not_an_integer() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    for key in ["k", "nokey"] {
        for count in ["abc", "1.5", "", "10x", "99999999999999999999"] {
            assert_eq!(
                error_of(&mut con, &["MULTIMAP.SCAN", key, "0", "COUNT", count]),
                NOT_AN_INTEGER,
                "COUNT {count:?} on {key}"
            );
        }
    }
    assert!(server.is_alive());
}

#[test]
fn scan_count_below_one_is_a_syntax_error() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    for key in ["k", "nokey"] {
        for count in ["0", "-1", "-10", "-9223372036854775808"] {
            assert_eq!(
                error_of(&mut con, &["MULTIMAP.SCAN", key, "0", "COUNT", count]),
                SYNTAX,
                "COUNT {count} on {key}"
            );
        }
    }
    assert!(server.is_alive());
}

#[test]
fn scan_with_unknown_option_is_a_syntax_error() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    let calls: [&[&str]; 6] = [
        &["FOO", "bar"],
        &["TYPE", "string"],
        &["NOVALUES"],
        &["MATCH", "*", "FOO", "bar"],
        &["COUNT", "10", "LIMIT", "5"],
        &["MATCHX", "*"],
    ];
    for key in ["k", "nokey"] {
        for options in calls {
            let mut call = vec!["MULTIMAP.SCAN", key, "0"];
            call.extend_from_slice(options);
            assert_eq!(error_of(&mut con, &call), SYNTAX, "{call:?}");
        }
    }
    assert!(server.is_alive());
}

#[test]
fn scan_with_option_missing_its_value_is_a_syntax_error() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    let calls: [&[&str]; 5] = [
        &["MATCH"],
        &["COUNT"],
        &["MATCH", "*", "COUNT"],
        &["COUNT", "10", "MATCH"],
        &["COUNT", "10", "MATCH", "*", "COUNT"],
    ];
    for key in ["k", "nokey"] {
        for options in calls {
            let mut call = vec!["MULTIMAP.SCAN", key, "0"];
            call.extend_from_slice(options);
            assert_eq!(error_of(&mut con, &call), SYNTAX, "{call:?}");
        }
    }
    assert!(server.is_alive());
}

#[test]
fn scan_options_are_case_insensitive_and_may_repeat() {
    let server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    let calls: [&[&str]; 4] = [
        &["match", "f", "count", "5"],
        &["CoUnT", "5", "MaTcH", "f"],
        &["COUNT", "1", "COUNT", "100"],
        &["MATCH", "x*", "MATCH", "f"],
    ];
    for options in calls {
        let mut call = vec!["MULTIMAP.SCAN", "k", "0"];
        call.extend_from_slice(options);
        let (cursor, items): (String, Vec<redis::Value>) = command(&call).query(&mut con).unwrap();
        assert_eq!(cursor, "0", "{call:?}");
        assert_eq!(items.len(), 2, "{call:?}: {items:?}");
    }
}

// ---------------------------------------------------------------- SCAN cursor

#[test]
fn scan_with_malformed_cursor_replies_invalid_cursor() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    let cursors = [
        "abc",
        "-1",
        "1.5",
        "",
        " 0",
        "0 ",
        "0x10",
        "1e3",
        "18446744073709551616",
        "99999999999999999999999999",
    ];
    for key in ["k", "nokey"] {
        for cursor in cursors {
            assert_eq!(
                error_of(&mut con, &["MULTIMAP.SCAN", key, cursor]),
                INVALID_CURSOR,
                "cursor {cursor:?} on {key}"
            );
            assert_eq!(
                error_of(&mut con, &["MULTIMAP.SCAN", key, cursor, "COUNT", "5"]),
                INVALID_CURSOR,
                "cursor {cursor:?} with COUNT on {key}"
            );
        }
    }
    assert!(server.is_alive());
}

#[test]
fn scan_accepts_any_unsigned_64_bit_cursor() {
    let mut server = Server::start();
    let mut con = server.connect();
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.cmd("MULTIMAP.INSERT")
            .arg("k")
            .arg(i)
            .arg("v")
            .ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();
    for cursor in ["1", "12345", "18446744073709551615", "00"] {
        let (next, _): (String, Vec<redis::Value>) = command(&["MULTIMAP.SCAN", "k", cursor])
            .query(&mut con)
            .unwrap_or_else(|error| panic!("cursor {cursor}: {error}"));
        assert!(next.parse::<u64>().is_ok(), "next cursor {next:?}");
    }
    assert!(server.is_alive());
}

// ---------------------------------------------------------------- robustness

#[test]
fn odd_input_never_takes_the_server_down() {
    let mut server = Server::start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "v"])
        .query(&mut con)
        .unwrap();
    let long = "x".repeat(100_000);
    let stars = "*".repeat(10_000);
    let backtracking = format!("{}b", "*a".repeat(200));
    let subject = "a".repeat(5_000);
    let _: i64 = command(&["MULTIMAP.INSERT", "k", &subject, "v"])
        .query(&mut con)
        .unwrap();
    let calls: Vec<Vec<&str>> = vec![
        vec!["MULTIMAP.RANGE", "k", "f", &long, "1"],
        vec!["MULTIMAP.SCAN", "k", &long],
        vec!["MULTIMAP.SCAN", "k", "0", "COUNT", &long],
        vec!["MULTIMAP.SCAN", "k", "0", "MATCH", &stars],
        vec![
            "MULTIMAP.SCAN",
            "k",
            "0",
            "MATCH",
            &backtracking,
            "COUNT",
            "100",
        ],
        vec!["MULTIMAP.SCAN", "k", "0", "MATCH", "[", "COUNT", "100"],
        vec!["MULTIMAP.SCAN", "k", "0", "MATCH", "[^", "COUNT", "100"],
        vec!["MULTIMAP.SCAN", "k", "0", "MATCH", "\\", "COUNT", "100"],
        vec!["MULTIMAP.SCAN", "k", "0", "MATCH", "[a-", "COUNT", "100"],
        vec!["MULTIMAP.SCAN", "k", "0", "MATCH", "[z-a]", "COUNT", "100"],
        vec!["MULTIMAP.SCAN", "k", "0", "COUNT", "9223372036854775807"],
        vec![
            "MULTIMAP.RANGE",
            "k",
            "f",
            "-9223372036854775808",
            "-9223372036854775808",
        ],
        vec!["MULTIMAP.GET", "k", ""],
        vec!["MULTIMAP.DEL", "k", "", "", ""],
    ];
    for call in calls {
        let _ = command(&call).query::<redis::Value>(&mut con);
        assert!(server.is_alive(), "{:?} crashed the server", &call[..3]);
    }
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let values: Vec<String> = command(&["MULTIMAP.GET", "k", "f"])
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["v"]);
}

// ---------------------------------------------------------------- maxmemory

#[test]
fn inserts_under_maxmemory_get_oom_while_reads_and_removals_work() {
    let mut server = Server::builder()
        .config("maxmemory-policy", "noeviction")
        .start();
    let mut con = server.connect();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "f", "a", "b"])
        .query(&mut con)
        .unwrap();
    let _: i64 = command(&["MULTIMAP.INSERT", "k", "g", "c"])
        .query(&mut con)
        .unwrap();
    // Any server uses more than one byte: every deny-oom command is refused.
    let _: () = command(&["CONFIG", "SET", "maxmemory", "1"])
        .query(&mut con)
        .unwrap();
    let oom = "OOM command not allowed when used memory > 'maxmemory'.";
    for call in [
        &["MULTIMAP.INSERT", "k", "f", "x"][..],
        &["MULTIMAP.INSERT", "new", "f", "x"],
        &["MULTIMAP.REPLACE", "k", "f", "x"],
    ] {
        assert_eq!(error_of(&mut con, call), oom, "{call:?}");
    }
    let values: Vec<String> = command(&["MULTIMAP.GET", "k", "f"])
        .query(&mut con)
        .unwrap();
    assert_eq!(values, ["a", "b"], "a refused write changed the key");
    let exists: i64 = command(&["EXISTS", "new"]).query(&mut con).unwrap();
    assert_eq!(exists, 0);
    let removed: i64 = command(&["MULTIMAP.REMOVE", "k", "f", "a"])
        .query(&mut con)
        .unwrap();
    assert_eq!(removed, 1);
    let deleted: i64 = command(&["MULTIMAP.DEL", "k", "g"])
        .query(&mut con)
        .unwrap();
    assert_eq!(deleted, 1);
    let size: i64 = command(&["MULTIMAP.SIZE", "k"]).query(&mut con).unwrap();
    assert_eq!(size, 1);
    assert!(server.is_alive());
}
