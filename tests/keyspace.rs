//! What other clients observe of a write: keyspace events (including `del`
//! when a key empties) and WATCH invalidation; and that reads and writes
//! that change nothing show neither.

mod common;

use std::time::Duration;

use common::{key_exists, read_commands, run, Server};
use redis::{Connection, PubSub};

/// A server publishing every keyspace event.
fn server_with_events() -> Server {
    Server::builder()
        .config("notify-keyspace-events", "KEA")
        .start()
}

/// The keyevent notifications (event, key) published since the last call:
/// sets a marker key and collects everything published before its event.
fn events(pubsub: &mut PubSub<'_>, con: &mut Connection) -> Vec<(String, String)> {
    run(con, &["SET", "events-marker", "1"]);
    let mut seen = Vec::new();
    loop {
        let message = pubsub.get_message().expect("a keyspace event");
        let event = message
            .get_channel_name()
            .strip_prefix("__keyevent@0__:")
            .expect("a keyevent channel")
            .to_owned();
        let key: String = message.get_payload().unwrap();
        if event == "set" && key == "events-marker" {
            return seen;
        }
        seen.push((event, key));
    }
}

fn subscribe(pubsub: &mut PubSub<'_>) {
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
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
    let server = server_with_events();
    let mut con = server.connect();
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    subscribe(&mut pubsub);
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "a", "b"]);
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "c"]);
    assert_eq!(
        events(&mut pubsub, &mut con),
        expect(&[("multimap.insert", "k"), ("multimap.insert", "k")])
    );
}

#[test]
fn remove_fires_multimap_remove_event() {
    let server = server_with_events();
    let mut con = server.connect();
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "a", "b"]);
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    subscribe(&mut pubsub);
    run(&mut con, &["MULTIMAP.REMOVE", "k", "f", "a"]);
    assert_eq!(
        events(&mut pubsub, &mut con),
        expect(&[("multimap.remove", "k")])
    );
}

#[test]
fn replace_fires_multimap_replace_event() {
    let server = server_with_events();
    let mut con = server.connect();
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "a"]);
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    subscribe(&mut pubsub);
    run(&mut con, &["MULTIMAP.REPLACE", "k", "f", "x"]);
    run(&mut con, &["MULTIMAP.REPLACE", "new", "f", "x"]);
    assert_eq!(
        events(&mut pubsub, &mut con),
        expect(&[("multimap.replace", "k"), ("multimap.replace", "new")])
    );
}

#[test]
fn del_fires_multimap_del_event() {
    let server = server_with_events();
    let mut con = server.connect();
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "a"]);
    run(&mut con, &["MULTIMAP.INSERT", "k", "g", "b"]);
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    subscribe(&mut pubsub);
    run(&mut con, &["MULTIMAP.DEL", "k", "f"]);
    assert_eq!(
        events(&mut pubsub, &mut con),
        expect(&[("multimap.del", "k")])
    );
}

#[test]
fn emptying_a_key_fires_del_event_after_the_command_event() {
    let server = server_with_events();
    let mut con = server.connect();
    run(&mut con, &["MULTIMAP.INSERT", "a", "f", "v"]);
    run(&mut con, &["MULTIMAP.INSERT", "b", "f", "v"]);
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    subscribe(&mut pubsub);
    run(&mut con, &["MULTIMAP.REMOVE", "a", "f", "v"]);
    run(&mut con, &["MULTIMAP.DEL", "b", "f"]);
    assert_eq!(
        events(&mut pubsub, &mut con),
        expect(&[
            ("multimap.remove", "a"),
            ("del", "a"),
            ("multimap.del", "b"),
            ("del", "b"),
        ])
    );
}

#[test]
fn writes_that_change_nothing_fire_no_event() {
    let server = server_with_events();
    let mut con = server.connect();
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "a", "b"]);
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    subscribe(&mut pubsub);
    run(&mut con, &["MULTIMAP.REMOVE", "k", "f", "absent"]);
    run(&mut con, &["MULTIMAP.REMOVE", "k", "nofield", "a"]);
    run(&mut con, &["MULTIMAP.REMOVE", "nokey", "f", "a"]);
    run(&mut con, &["MULTIMAP.DEL", "k", "nofield"]);
    run(&mut con, &["MULTIMAP.DEL", "nokey", "f"]);
    run(&mut con, &["MULTIMAP.REPLACE", "k", "f", "a", "b"]);
    assert_eq!(events(&mut pubsub, &mut con), expect(&[]));
}

#[test]
fn reads_fire_no_event() {
    let server = server_with_events();
    let mut con = server.connect();
    // "v", the value the example calls name, so that CONTAINS finds it.
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "v"]);
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    subscribe(&mut pubsub);
    for read in read_commands() {
        run(&mut con, read.call("k"));
    }
    assert_eq!(events(&mut pubsub, &mut con), expect(&[]));
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
    let reply: redis::Value = redis::cmd("EXEC").query(&mut watcher).unwrap();
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

#[test]
fn writes_that_change_data_invalidate_watch() {
    let server = Server::start();
    let mut con = server.connect();
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "a", "b"]);
    run(&mut con, &["MULTIMAP.INSERT", "k", "g", "c"]);
    let writes: [&[&str]; 5] = [
        &["MULTIMAP.INSERT", "k", "f", "x"],
        &["MULTIMAP.REMOVE", "k", "f", "a"],
        &["MULTIMAP.REPLACE", "k", "f", "y"],
        &["MULTIMAP.DEL", "k", "f"],
        &["MULTIMAP.REMOVE", "k", "g", "c"],
    ];
    for write in writes {
        assert!(!transaction_survives(&server, "k", write), "{write:?}");
    }
    assert!(!key_exists(&mut con, "k"));
    assert!(!transaction_survives(
        &server,
        "k",
        &["MULTIMAP.INSERT", "k", "f", "new"]
    ));
}

#[test]
fn writes_that_change_nothing_do_not_invalidate_watch() {
    let server = Server::start();
    let mut con = server.connect();
    run(&mut con, &["MULTIMAP.INSERT", "k", "f", "a", "b"]);
    let no_ops: [&[&str]; 4] = [
        &["MULTIMAP.REMOVE", "k", "f", "absent"],
        &["MULTIMAP.REMOVE", "k", "nofield", "a"],
        &["MULTIMAP.DEL", "k", "nofield"],
        &["MULTIMAP.REPLACE", "k", "f", "a", "b"],
    ];
    for no_op in no_ops {
        assert!(transaction_survives(&server, "k", no_op), "{no_op:?}");
    }
    for no_op in [
        &["MULTIMAP.REMOVE", "nokey", "f", "a"][..],
        &["MULTIMAP.DEL", "nokey", "f"],
    ] {
        assert!(transaction_survives(&server, "nokey", no_op), "{no_op:?}");
    }
}
