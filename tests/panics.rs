//! The panic path, proven on a module built with the `fault-injection`
//! feature (`make test` builds it as target/<profile>/libredis_multimap_faults.so):
//! a field argument `fault:command` makes a handler panic, and a field
//! `fault:<callback>` in a map makes that type callback panic. Whatever
//! panics, the server keeps running, a command gets exactly one error reply,
//! its key is unchanged, nothing leaks, and no persisted value is silently
//! truncated.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{error_text, info_field, wait_until, Server};
use redis::{Connection, Value};

const INTERNAL_ERROR: &str = "ERR internal error in the multimap module, see the server log";

fn fault_module() -> PathBuf {
    let module = common::module_path();
    let faults = module.with_file_name("libredis_multimap_faults.so");
    assert!(
        faults.exists(),
        "no {}: build it with `cargo build --features fault-injection` and copy the \
         module under that name (make test does)",
        faults.display()
    );
    faults
}

fn faulty_server() -> Server {
    Server::builder()
        .without_module()
        .config("loadmodule", fault_module().to_str().expect("a UTF-8 path"))
        .start()
}

fn insert(con: &mut Connection, key: &str, field: &str, values: &[&str]) {
    common::insert(con, key, field, values);
}

fn getall(con: &mut Connection, key: &str) -> Value {
    redis::cmd("MULTIMAP.GETALL")
        .arg(key)
        .query(con)
        .expect("GETALL")
}

fn info_number(con: &mut Connection, section: &str, name: &str) -> i64 {
    info_field(con, section, name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no number {name}"))
}

#[test]
fn a_panicking_command_gets_one_error_and_leaves_its_key_unchanged() {
    let mut server = faulty_server();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    let before = getall(&mut con, "k");
    let commands: [&[&str]; 9] = [
        &["MULTIMAP.INSERT", "k", "fault:command", "x"],
        &["MULTIMAP.REPLACE", "k", "fault:command", "x"],
        &["MULTIMAP.REMOVE", "k", "fault:command", "a"],
        &["MULTIMAP.DEL", "k", "fault:command"],
        &["MULTIMAP.GET", "k", "fault:command"],
        &["MULTIMAP.LEN", "k", "fault:command"],
        &["MULTIMAP.RANGE", "k", "fault:command", "0", "-1"],
        &["MULTIMAP.CONTAINS", "k", "fault:command", "a"],
        &["MULTIMAP.EXISTS", "k", "fault:command"],
    ];
    for command in commands {
        let error = redis::cmd(command[0])
            .arg(&command[1..])
            .query::<Value>(&mut con)
            .expect_err("a panic must be an error reply");
        assert_eq!(error_text(&error), INTERNAL_ERROR, "{command:?}");
        // One reply only: the next command reads its own reply, not a leftover.
        let pong: String = redis::cmd("PING").query(&mut con).expect("PING");
        assert_eq!(pong, "PONG", "after {command:?}");
        assert_eq!(getall(&mut con, "k"), before, "{command:?} changed the key");
    }
    assert!(server.is_alive());
    let log = server.log_text();
    assert!(
        log.contains("multimap.insert aborted by a bug: fault injected in a command"),
        "the log names the command and the panic: {log}"
    );
}

#[test]
fn a_write_that_panics_on_a_new_key_leaves_no_empty_key_behind() {
    let mut server = faulty_server();
    let mut con = server.connect();
    for command in ["MULTIMAP.INSERT", "MULTIMAP.REPLACE"] {
        let error = redis::cmd(command)
            .arg(&["fresh", "fault:command", "x"])
            .query::<Value>(&mut con)
            .expect_err("a panic must be an error reply");
        assert_eq!(error_text(&error), INTERNAL_ERROR);
        let exists: i64 = redis::cmd("EXISTS").arg("fresh").query(&mut con).unwrap();
        assert_eq!(exists, 0, "{command} left an empty key");
    }
    let keys: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(keys, 0);
    assert!(server.is_alive());
}

#[test]
fn panicking_commands_and_callbacks_leak_nothing() {
    let server = faulty_server();
    let mut con = server.connect();
    let _ = redis::cmd("CONFIG")
        .arg(&["SET", "latency-tracking", "no"])
        .exec(&mut con);
    insert(&mut con, "loaded", "fault:rdb_load", &["v"]);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("loaded").query(&mut con).unwrap();
    let round = |con: &mut Connection| {
        let mut pipe = redis::pipe();
        for i in 0..500 {
            let key = format!("new:{i}");
            pipe.cmd("MULTIMAP.INSERT")
                .arg(&key)
                .arg("fault:command")
                .arg("value")
                .ignore();
            pipe.cmd("MULTIMAP.GET")
                .arg("loaded")
                .arg("fault:command")
                .ignore();
            pipe.cmd("RESTORE").arg(&key).arg(0).arg(&payload).ignore();
        }
        // Errors come back as values inside the pipeline's reply.
        let _: Result<Value, _> = pipe.query(con);
    };
    // A first round warms up what Redis allocates once (log buffers, ...).
    round(&mut con);
    let baseline = info_number(&mut con, "memory", "used_memory");
    for _ in 0..4 {
        round(&mut con);
    }
    let after = info_number(&mut con, "memory", "used_memory");
    // 2000 leaked maps, or panic payloads, would take hundreds of kilobytes.
    assert!(
        (after - baseline).abs() < 32 * 1024,
        "used_memory {baseline} before 6000 panics, {after} after"
    );
    let keys: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(keys, 1, "only the key that was dumped");
}

#[test]
fn a_panicking_rdb_load_rejects_the_payload() {
    let mut server = faulty_server();
    let mut con = server.connect();
    insert(&mut con, "k", "fault:rdb_load", &["v"]);
    insert(&mut con, "k", "other", &["w"]);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut con).unwrap();
    let error = redis::cmd("RESTORE")
        .arg("copy")
        .arg(0)
        .arg(payload)
        .query::<Value>(&mut con)
        .expect_err("the payload must be refused");
    assert!(error_text(&error).contains("Bad data format"), "{error:?}");
    let exists: i64 = redis::cmd("EXISTS").arg("copy").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    assert!(server.is_alive());
    assert!(server.log_text().contains("rdb_load aborted by a bug"));
}

#[test]
fn a_panicking_rdb_save_in_a_fork_child_fails_the_save_and_keeps_the_old_file() {
    let mut server = faulty_server();
    let mut con = server.connect();
    insert(&mut con, "good", "f", &["v"]);
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let dump = server.dir.path().join("dump.rdb");
    let saved = std::fs::read(&dump).expect("dump.rdb");
    insert(&mut con, "bad", "f", &["v"]);
    insert(&mut con, "bad", "fault:rdb_save", &["v"]);
    let _: Value = redis::cmd("BGSAVE").query(&mut con).unwrap();
    wait_until("the BGSAVE to end", Duration::from_secs(20), || {
        info_field(&mut con, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("0")
    });
    assert_eq!(
        info_field(&mut con, "persistence", "rdb_last_bgsave_status").as_deref(),
        Some("err")
    );
    assert_eq!(std::fs::read(&dump).unwrap(), saved, "dump.rdb changed");
    assert!(server.is_alive());
    let log = server.log_text();
    assert!(log.contains("rdb_save aborted by a bug"), "{log}");
    assert!(log.contains("the child process exits so the previous file stays"));
}

#[test]
fn a_panicking_rdb_save_in_the_server_marks_the_payload_so_it_fails_to_load() {
    let mut server = faulty_server();
    let mut con = server.connect();
    for i in 0..20 {
        insert(&mut con, "bad", &format!("field-{i}"), &["v"]);
    }
    insert(&mut con, "bad", "fault:rdb_save", &["v"]);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("bad").query(&mut con).unwrap();
    let error = redis::cmd("RESTORE")
        .arg("copy")
        .arg(0)
        .arg(payload)
        .query::<Value>(&mut con)
        .expect_err("an incomplete payload must not load");
    assert!(error_text(&error).contains("Bad data format"), "{error:?}");
    assert!(server.is_alive());
    let log = server.log_text();
    assert!(log.contains("rdb_save aborted by a bug"), "{log}");
    assert!(log.contains("it ends with a marker that makes loading it fail"));
}

#[test]
fn a_panicking_aof_rewrite_fails_the_rewrite_and_keeps_the_old_file() {
    let mut server = Server::builder()
        .without_module()
        .config("loadmodule", fault_module().to_str().unwrap())
        .config("appendonly", "yes")
        .config("aof-use-rdb-preamble", "no")
        .start();
    let mut con = server.connect();
    insert(&mut con, "bad", "f", &["v"]);
    insert(&mut con, "bad", "fault:aof_rewrite", &["v"]);
    let _: Value = redis::cmd("BGREWRITEAOF").query(&mut con).unwrap();
    wait_until("the rewrite to end", Duration::from_secs(20), || {
        info_field(&mut con, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(&mut con, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
    });
    assert_eq!(
        info_field(&mut con, "persistence", "aof_last_bgrewrite_status").as_deref(),
        Some("err")
    );
    // The AOF still takes writes and the key is intact.
    insert(&mut con, "bad", "g", &["w"]);
    let fields: i64 = redis::cmd("MULTIMAP.CARD")
        .arg("bad")
        .query(&mut con)
        .unwrap();
    assert_eq!(fields, 3);
    assert!(server.is_alive());
    let log = server.log_text();
    assert!(log.contains("aof_rewrite aborted by a bug"), "{log}");
    assert!(log.contains("the child process exits so the previous file stays"));
}

#[test]
fn panics_in_the_other_callbacks_leave_the_server_and_the_key_alone() {
    let mut server = faulty_server();
    let mut con = server.connect();
    for callback in ["mem_usage", "digest", "copy", "free_effort"] {
        insert(&mut con, callback, &format!("fault:{callback}"), &["v"]);
        insert(&mut con, callback, "other", &["w"]);
    }
    let _: Value = redis::cmd("MEMORY")
        .arg(&["USAGE", "mem_usage"])
        .query(&mut con)
        .expect("MEMORY USAGE still answers");
    let _: Value = redis::cmd("DEBUG")
        .arg(&["DIGEST-VALUE", "digest"])
        .query(&mut con)
        .expect("DEBUG DIGEST-VALUE still answers");
    let error = redis::cmd("COPY")
        .arg(&["copy", "copied"])
        .query::<Value>(&mut con)
        .expect_err("a failed copy is an error");
    assert!(error_text(&error).starts_with("ERR"), "{error:?}");
    let exists: i64 = redis::cmd("EXISTS").arg("copied").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    let unlinked: i64 = redis::cmd("UNLINK")
        .arg("free_effort")
        .query(&mut con)
        .unwrap();
    assert_eq!(unlinked, 1);
    for key in ["mem_usage", "digest", "copy"] {
        let fields: i64 = redis::cmd("MULTIMAP.CARD")
            .arg(key)
            .query(&mut con)
            .unwrap();
        assert_eq!(fields, 2, "{key}");
    }
    assert!(server.is_alive());
    let log = server.log_text();
    for callback in ["mem_usage", "digest", "copy", "free_effort"] {
        assert!(
            log.contains(&format!("{callback} aborted by a bug")),
            "{callback}: {log}"
        );
    }
}
