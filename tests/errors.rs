//! Every error row of the contract, with the exact text a client receives,
//! and that no error changes data or takes the server down.

mod common;

use common::{
    arity_error, error_reply, get, insert, integer, query, run, scan_once, Server, COMMANDS,
    COUNTS_BELOW_ONE, INVALID_CURSOR, MALFORMED_CURSORS, NOT_AN_INTEGER, NOT_INTEGERS,
    NOT_INTEGER_COUNTS, NO_OPTIONS, OOM, SCAN_OPTIONS_MISSING_VALUE, SYNTAX, UNKNOWN_SCAN_OPTIONS,
    WRONGTYPE,
};

/// One well-formed call of every command on `key`, and SCAN with options.
fn every_command(key: &str) -> Vec<Vec<&str>> {
    let mut calls: Vec<Vec<&str>> = COMMANDS.iter().map(|command| command.call(key)).collect();
    calls.push(vec!["MULTIMAP.SCAN", key, "0", "MATCH", "*", "COUNT", "5"]);
    calls
}

// ---------------------------------------------------------------- WRONGTYPE

#[test]
fn every_command_against_a_string_key_replies_wrongtype() {
    let mut server = Server::start();
    let mut con = server.connect();
    run(&mut con, ("SET", "s", "text"));
    for call in every_command("s") {
        assert_eq!(error_reply(&mut con, &call), WRONGTYPE, "{call:?}");
    }
    let value: String = query(&mut con, ("GET", "s"));
    assert_eq!(value, "text", "a failed command changed the string");
    assert!(server.is_alive());
}

#[test]
fn every_command_against_a_list_key_replies_wrongtype() {
    let mut server = Server::start();
    let mut con = server.connect();
    run(&mut con, ("RPUSH", "l", &["a", "b"]));
    for call in every_command("l") {
        assert_eq!(error_reply(&mut con, &call), WRONGTYPE, "{call:?}");
    }
    let list: Vec<String> = query(&mut con, ("LRANGE", "l", 0, -1));
    assert_eq!(list, ["a", "b"], "a failed command changed the list");
    assert!(server.is_alive());
}

#[test]
fn commands_against_a_hash_key_reply_wrongtype() {
    let server = Server::start();
    let mut con = server.connect();
    run(&mut con, ("HSET", "h", "f", "v"));
    for call in every_command("h") {
        assert_eq!(error_reply(&mut con, &call), WRONGTYPE, "{call:?}");
    }
    let value: String = query(&mut con, ("HGET", "h", "f"));
    assert_eq!(value, "v");
}

#[test]
fn native_commands_against_a_multimap_key_reply_wrongtype() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    for call in [
        &["GET", "k"][..],
        &["LRANGE", "k", "0", "-1"],
        &["HGET", "k", "f"],
        &["APPEND", "k", "x"],
    ] {
        assert_eq!(error_reply(&mut con, call), WRONGTYPE, "{call:?}");
    }
    assert_eq!(get(&mut con, "k", "f"), ["v"]);
}

// ---------------------------------------------------------------- arity

#[test]
fn every_command_with_too_few_arguments_gets_redis_arity_error() {
    let mut server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    for command in &COMMANDS {
        let name = command.lower_name();
        let mut call = command.call("k");
        call[0] = &name;
        for len in 1..call.len() {
            let short = &call[..len];
            assert_eq!(
                error_reply(&mut con, short),
                arity_error(&name),
                "{short:?}"
            );
        }
    }
    assert_eq!(get(&mut con, "k", "f"), ["v"]);
    assert!(server.is_alive());
}

#[test]
fn fixed_arity_commands_with_too_many_arguments_get_redis_arity_error() {
    let mut server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    for command in COMMANDS.iter().filter(|command| command.fixed_arity()) {
        let name = command.lower_name();
        for extra in [&["x"][..], &["x", "y", "z"]] {
            let mut long = command.call("k");
            long[0] = &name;
            long.extend_from_slice(extra);
            assert_eq!(error_reply(&mut con, &long), arity_error(&name), "{long:?}");
        }
    }
    assert!(server.is_alive());
}

#[test]
fn variadic_commands_accept_many_arguments() {
    let server = Server::start();
    let mut con = server.connect();
    let values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let inserted: i64 = query(&mut con, ("MULTIMAP.INSERT", "k", "f", &values));
    assert_eq!(inserted, 1000);
    let removed: i64 = query(&mut con, ("MULTIMAP.REMOVE", "k", "f", &values[..600]));
    assert_eq!(removed, 600);
    let replaced: i64 = query(&mut con, ("MULTIMAP.REPLACE", "k", "g", &values[..300]));
    assert_eq!(replaced, 300);
    let deleted: i64 = query(&mut con, ("MULTIMAP.DEL", "k", &values, "f", "g"));
    assert_eq!(deleted, 2);
}

// ---------------------------------------------------------------- RANGE integers

#[test]
fn range_with_non_integer_index_replies_not_an_integer() {
    let mut server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    let bad = NOT_INTEGERS.into_iter().chain(["99999999999999999999999"]);
    for key in ["k", "nokey"] {
        for index in bad.clone() {
            assert_eq!(
                error_reply(&mut con, &["MULTIMAP.RANGE", key, "f", index, "1"]),
                NOT_AN_INTEGER,
                "start {index:?} on {key}"
            );
            assert_eq!(
                error_reply(&mut con, &["MULTIMAP.RANGE", key, "f", "0", index]),
                NOT_AN_INTEGER,
                "stop {index:?} on {key}"
            );
        }
    }
    let exists = integer(&mut con, &["EXISTS", "nokey"]);
    assert_eq!(exists, 0);
    assert!(server.is_alive());
}

// ---------------------------------------------------------------- SCAN options

#[test]
fn scan_count_that_is_not_an_integer_replies_not_an_integer() {
    let mut server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    for key in ["k", "nokey"] {
        for count in NOT_INTEGER_COUNTS {
            assert_eq!(
                error_reply(&mut con, &["MULTIMAP.SCAN", key, "0", "COUNT", count]),
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
    insert(&mut con, "k", "f", &["v"]);
    for key in ["k", "nokey"] {
        for count in COUNTS_BELOW_ONE {
            assert_eq!(
                error_reply(&mut con, &["MULTIMAP.SCAN", key, "0", "COUNT", count]),
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
    insert(&mut con, "k", "f", &["v"]);
    for key in ["k", "nokey"] {
        for options in UNKNOWN_SCAN_OPTIONS {
            let mut call = vec!["MULTIMAP.SCAN", key, "0"];
            call.extend_from_slice(options);
            assert_eq!(error_reply(&mut con, &call), SYNTAX, "{call:?}");
        }
    }
    assert!(server.is_alive());
}

#[test]
fn scan_with_option_missing_its_value_is_a_syntax_error() {
    let mut server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    for key in ["k", "nokey"] {
        for options in SCAN_OPTIONS_MISSING_VALUE {
            let mut call = vec!["MULTIMAP.SCAN", key, "0"];
            call.extend_from_slice(options);
            assert_eq!(error_reply(&mut con, &call), SYNTAX, "{call:?}");
        }
    }
    assert!(server.is_alive());
}

#[test]
fn scan_options_are_case_insensitive_and_may_repeat() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    let calls: [&[&str]; 4] = [
        &["match", "f", "count", "5"],
        &["CoUnT", "5", "MaTcH", "f"],
        &["COUNT", "1", "COUNT", "100"],
        &["MATCH", "x*", "MATCH", "f"],
    ];
    for options in calls {
        let (cursor, pairs) = scan_once(&mut con, "k", "0", options);
        assert_eq!(cursor, "0", "{options:?}");
        assert_eq!(pairs.len(), 1, "{options:?}: {pairs:?}");
    }
}

// ---------------------------------------------------------------- SCAN cursor

#[test]
fn scan_with_malformed_cursor_replies_invalid_cursor() {
    let mut server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    for key in ["k", "nokey"] {
        for cursor in MALFORMED_CURSORS {
            assert_eq!(
                error_reply(&mut con, &["MULTIMAP.SCAN", key, cursor]),
                INVALID_CURSOR,
                "cursor {cursor:?} on {key}"
            );
            assert_eq!(
                error_reply(&mut con, &["MULTIMAP.SCAN", key, cursor, "COUNT", "5"]),
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
        let (next, _) = scan_once(&mut con, "k", cursor, NO_OPTIONS);
        assert!(next.parse::<u64>().is_ok(), "next cursor {next:?}");
    }
    assert!(server.is_alive());
}

// ---------------------------------------------------------------- robustness

#[test]
fn odd_input_never_takes_the_server_down() {
    let mut server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    let long = "x".repeat(100_000);
    let stars = "*".repeat(10_000);
    let backtracking = format!("{}b", "*a".repeat(200));
    let subject = "a".repeat(5_000);
    integer(&mut con, &["MULTIMAP.INSERT", "k", &subject, "v"]);
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
        let _ = common::command(&call).query::<redis::Value>(&mut con);
        assert!(server.is_alive(), "{:?} crashed the server", &call[..3]);
    }
    let pong: String = query(&mut con, &["PING"]);
    assert_eq!(pong, "PONG");
    assert_eq!(get(&mut con, "k", "f"), ["v"]);
}

// ---------------------------------------------------------------- maxmemory

#[test]
fn growing_writes_under_maxmemory_get_oom_while_reads_and_removals_work() {
    let mut server = Server::builder()
        .config("maxmemory-policy", "noeviction")
        .start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    insert(&mut con, "k", "g", &["c"]);
    insert(&mut con, "k", "h", &["x", "y", "z"]);
    // Any server uses more than one byte: every deny-oom command is refused.
    common::run(&mut con, &["CONFIG", "SET", "maxmemory", "1"]);
    let deny_oom = COMMANDS.iter().filter(|command| command.deny_oom);
    let mut calls: Vec<Vec<&str>> = deny_oom.map(|command| command.call("k")).collect();
    calls.push(vec!["MULTIMAP.INSERT", "new", "f", "x"]);
    assert!(calls.len() > 5, "{calls:?}");
    for call in calls {
        assert_eq!(error_reply(&mut con, &call), OOM, "{call:?}");
    }
    // Writes that only take values away keep working.
    assert_eq!(
        query::<String>(&mut con, &["MULTIMAP.TRIM", "k", "h", "1", "1"]),
        "OK"
    );
    assert_eq!(
        query::<String>(&mut con, &["MULTIMAP.POP", "k", "h", "LEFT"]),
        "y"
    );
    assert_eq!(
        get(&mut con, "k", "f"),
        ["a", "b"],
        "a refused write changed the key"
    );
    let exists = integer(&mut con, &["EXISTS", "new"]);
    assert_eq!(exists, 0);
    let removed = integer(&mut con, &["MULTIMAP.REMOVE", "k", "f", "a"]);
    assert_eq!(removed, 1);
    let deleted = integer(&mut con, &["MULTIMAP.DEL", "k", "g"]);
    assert_eq!(deleted, 1);
    let size = integer(&mut con, &["MULTIMAP.SIZE", "k"]);
    assert_eq!(size, 1);
    assert!(server.is_alive());
}
