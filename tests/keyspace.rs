//! What other clients observe of a write: keyspace events (including `del`
//! when a key empties) and WATCH invalidation; and that reads and writes
//! that change nothing show neither.

mod common;

use common::{
    key_exists, keyevents_during, query, read_commands, run, Server, NO_OP_SETUP, NO_OP_WRITES,
};

/// The keyevent notifications (event, key) that `commands` publish, on a
/// server publishing every keyspace event where `setup` ran first.
fn events_of<C: AsRef<[&'static str]>>(setup: &[&[&str]], commands: &[C]) -> Vec<(String, String)> {
    let server = Server::builder()
        .config("notify-keyspace-events", "KEA")
        .start();
    let mut con = server.connect();
    for command in setup {
        run(&mut con, command);
    }
    keyevents_during(&server, |con| {
        for command in commands {
            run(con, command.as_ref());
        }
    })
}

fn expect(events: &[(&str, &str)]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|(event, key)| ((*event).to_owned(), (*key).to_owned()))
        .collect()
}

// ---------------------------------------------------------------- keyspace events

#[test]
fn insert_fires_multimap_insert_event() {
    let inserts: [&[&str]; 2] = [
        &["MULTIMAP.INSERT", "k", "f", "a", "b"],
        &["MULTIMAP.INSERT", "k", "f", "c"],
    ];
    assert_eq!(
        events_of(&[], &inserts),
        expect(&[("multimap.insert", "k"), ("multimap.insert", "k")])
    );
}

#[test]
fn remove_fires_multimap_remove_event() {
    let setup: [&[&str]; 1] = [&["MULTIMAP.INSERT", "k", "f", "a", "b"]];
    assert_eq!(
        events_of(&setup, &[&["MULTIMAP.REMOVE", "k", "f", "a"]]),
        expect(&[("multimap.remove", "k")])
    );
}

#[test]
fn replace_fires_multimap_replace_event() {
    let setup: [&[&str]; 1] = [&["MULTIMAP.INSERT", "k", "f", "a"]];
    let replaces: [&[&str]; 2] = [
        &["MULTIMAP.REPLACE", "k", "f", "x"],
        &["MULTIMAP.REPLACE", "new", "f", "x"],
    ];
    assert_eq!(
        events_of(&setup, &replaces),
        expect(&[("multimap.replace", "k"), ("multimap.replace", "new")])
    );
}

#[test]
fn del_fires_multimap_del_event() {
    let setup: [&[&str]; 2] = [
        &["MULTIMAP.INSERT", "k", "f", "a"],
        &["MULTIMAP.INSERT", "k", "g", "b"],
    ];
    assert_eq!(
        events_of(&setup, &[&["MULTIMAP.DEL", "k", "f"]]),
        expect(&[("multimap.del", "k")])
    );
}

#[test]
fn emptying_a_key_fires_del_event_after_the_command_event() {
    let setup: [&[&str]; 2] = [
        &["MULTIMAP.INSERT", "a", "f", "v"],
        &["MULTIMAP.INSERT", "b", "f", "v"],
    ];
    let emptying: [&[&str]; 2] = [
        &["MULTIMAP.REMOVE", "a", "f", "v"],
        &["MULTIMAP.DEL", "b", "f"],
    ];
    assert_eq!(
        events_of(&setup, &emptying),
        expect(&[
            ("multimap.remove", "a"),
            ("del", "a"),
            ("multimap.del", "b"),
            ("del", "b"),
        ])
    );
}

#[test]
fn list_writes_fire_their_events_only_when_they_change_data() {
    let setup: [&[&str]; 2] = [
        &["MULTIMAP.INSERT", "k", "f", "a", "b", "c"],
        &["MULTIMAP.INSERT", "t", "f", "a"],
    ];
    let writes: [&[&str]; 11] = [
        &["MULTIMAP.PREPEND", "k", "f", "x"],
        &["MULTIMAP.ADD", "k", "f", "a", "y"],
        &["MULTIMAP.ADD", "k", "f", "a"],
        &["MULTIMAP.POP", "k", "f", "LEFT"],
        &["MULTIMAP.SET", "k", "f", "0", "z"],
        &["MULTIMAP.SET", "k", "f", "0", "z"],
        &["MULTIMAP.TRIM", "k", "f", "0", "1"],
        &["MULTIMAP.TRIM", "k", "f", "0", "-1"],
        &["MULTIMAP.POP", "k", "f", "RIGHT", "COUNT", "5"],
        &["MULTIMAP.TRIM", "t", "f", "1", "0"],
        &["MULTIMAP.PREPEND", "new", "f", "v", "w"],
    ];
    assert_eq!(
        events_of(&setup, &writes),
        expect(&[
            ("multimap.prepend", "k"),
            ("multimap.add", "k"),
            ("multimap.pop", "k"),
            ("multimap.set", "k"),
            ("multimap.trim", "k"),
            ("multimap.pop", "k"),
            ("del", "k"),
            ("multimap.trim", "t"),
            ("del", "t"),
            ("multimap.prepend", "new"),
        ])
    );
}

#[test]
fn expiry_writes_fire_their_events_only_when_they_change_something() {
    let setup: [&[&str]; 3] = [
        &["MULTIMAP.INSERT", "k", "f", "v"],
        &["MULTIMAP.INSERT", "k", "g", "v"],
        &["MULTIMAP.INSERT", "k", "h", "v"],
    ];
    let writes: [&[&str]; 10] = [
        &["MULTIMAP.EXPIRE", "k", "100", "FIELDS", "2", "f", "missing"],
        &["MULTIMAP.PEXPIRE", "k", "100", "NX", "FIELDS", "1", "f"],
        &["MULTIMAP.PERSIST", "k", "FIELDS", "2", "f", "g"],
        &["MULTIMAP.PERSIST", "k", "FIELDS", "2", "f", "g"],
        &["MULTIMAP.EXPIREAT", "k", "0", "XX", "FIELDS", "1", "g"],
        &["MULTIMAP.EXPIREAT", "k", "0", "FIELDS", "1", "g"],
        &[
            "MULTIMAP.PEXPIREAT",
            "k",
            "4102444800000",
            "FIELDS",
            "1",
            "f",
        ],
        &[
            "MULTIMAP.PEXPIRE",
            "k",
            "0",
            "FIELDS",
            "3",
            "f",
            "h",
            "missing",
        ],
        &["MULTIMAP.EXPIRE", "k", "0", "FIELDS", "1", "f"],
        &["MULTIMAP.PEXPIRE", "nokey", "0", "FIELDS", "1", "f"],
    ];
    assert_eq!(
        events_of(&setup, &writes),
        expect(&[
            ("multimap.expire", "k"),
            ("multimap.persist", "k"),
            ("multimap.expired", "k"),
            ("multimap.expire", "k"),
            ("multimap.expired", "k"),
            ("del", "k"),
        ])
    );
}

#[test]
fn writes_that_change_nothing_fire_no_event() {
    assert_eq!(events_of(&[NO_OP_SETUP], &NO_OP_WRITES), expect(&[]));
}

#[test]
fn reads_fire_no_event() {
    // "v", the value the example calls name, so that CONTAINS finds it.
    let setup: [&[&str]; 1] = [&["MULTIMAP.INSERT", "k", "f", "v"]];
    let reads: Vec<Vec<&str>> = read_commands().map(|read| read.call("k")).collect();
    assert_eq!(events_of(&setup, &reads), expect(&[]));
}

// ---------------------------------------------------------------- WATCH

/// Whether a transaction WATCHing `key` still executes after another client
/// sends `command`.
fn transaction_survives(server: &Server, key: &str, command: &[&str]) -> bool {
    let mut watcher = server.connect();
    let mut other = server.connect();
    run(&mut watcher, &["WATCH", key]);
    run(&mut other, command);
    run(&mut watcher, &["MULTI"]);
    run(&mut watcher, &["PING"]);
    let reply: redis::Value = query(&mut watcher, &["EXEC"]);
    match reply {
        redis::Value::Array(_) => true,
        redis::Value::Nil => false,
        other => panic!("EXEC replied {other:?}"),
    }
}

#[test]
fn reads_do_not_invalidate_watch() {
    let server = Server::start();
    let mut con = server.connect();
    // "v", the value the example calls name, so that CONTAINS finds it.
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "v"]);
    for read in read_commands() {
        let call = read.call("k");
        assert!(transaction_survives(&server, "k", &call), "{call:?}");
    }
}

/// After `setup`, each of `writes` in turn invalidates a WATCH of "k"; they
/// leave the key gone, and `recreating` it invalidates one too.
fn assert_writes_invalidate_watch(setup: &[&[&str]], writes: &[&[&str]], recreating: &[&str]) {
    let server = Server::start();
    let mut con = server.connect();
    for command in setup {
        run(&mut con, command);
    }
    for write in writes {
        assert!(!transaction_survives(&server, "k", write), "{write:?}");
    }
    assert!(!key_exists(&mut con, "k"));
    assert!(!transaction_survives(&server, "k", recreating));
}

#[test]
fn writes_that_change_data_invalidate_watch() {
    assert_writes_invalidate_watch(
        &[
            &["MULTIMAP.INSERT", "k", "f", "a", "b"],
            &["MULTIMAP.INSERT", "k", "g", "c"],
        ],
        &[
            &["MULTIMAP.INSERT", "k", "f", "x"],
            &["MULTIMAP.REMOVE", "k", "f", "a"],
            &["MULTIMAP.REPLACE", "k", "f", "y"],
            &["MULTIMAP.DEL", "k", "f"],
            &["MULTIMAP.REMOVE", "k", "g", "c"],
        ],
        &["MULTIMAP.INSERT", "k", "f", "new"],
    );
}

#[test]
fn list_writes_that_change_data_invalidate_watch() {
    assert_writes_invalidate_watch(
        &[&["MULTIMAP.INSERT", "k", "f", "a", "b", "c"]],
        &[
            &["MULTIMAP.PREPEND", "k", "f", "x"],
            &["MULTIMAP.ADD", "k", "f", "a", "y"],
            &["MULTIMAP.POP", "k", "f", "LEFT"],
            &["MULTIMAP.SET", "k", "f", "-1", "q"],
            &["MULTIMAP.TRIM", "k", "f", "1", "-1"],
            &["MULTIMAP.POP", "k", "f", "RIGHT", "COUNT", "9"],
        ],
        &["MULTIMAP.ADD", "k", "f", "new"],
    );
}

#[test]
fn expiry_writes_that_change_something_invalidate_watch() {
    assert_writes_invalidate_watch(
        &[
            &["MULTIMAP.INSERT", "k", "f", "a", "b"],
            &["MULTIMAP.INSERT", "k", "g", "c"],
        ],
        &[
            &["MULTIMAP.EXPIRE", "k", "100", "FIELDS", "1", "f"],
            &["MULTIMAP.PEXPIRE", "k", "200000", "GT", "FIELDS", "1", "f"],
            &[
                "MULTIMAP.EXPIREAT",
                "k",
                "4102444800",
                "XX",
                "FIELDS",
                "2",
                "f",
                "g",
            ],
            &["MULTIMAP.PERSIST", "k", "FIELDS", "1", "f"],
            &["MULTIMAP.PEXPIREAT", "k", "1", "FIELDS", "1", "g"],
            &["MULTIMAP.EXPIRE", "k", "0", "LT", "FIELDS", "1", "f"],
        ],
        &["MULTIMAP.INSERT", "k", "f", "new"],
    );
}

#[test]
fn writes_that_change_nothing_do_not_invalidate_watch() {
    let server = Server::start();
    let mut con = server.connect();
    run(&mut con, NO_OP_SETUP);
    for no_op in NO_OP_WRITES {
        // WATCH the key the write names, present ("k") or not ("nokey").
        let key = no_op[1];
        assert!(transaction_survives(&server, key, no_op), "{no_op:?}");
    }
}
