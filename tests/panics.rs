//! The panic path, proven on the module built with the `fault-injection`
//! feature (`Server::builder().with_fault_injection()`): a field argument
//! `fault:command` makes a handler panic, and a field `fault:<callback>` in a
//! map makes that type callback panic. Whatever panics, the server keeps
//! running, a command gets exactly one error reply, its key is unchanged,
//! nothing leaks, and no persisted value is silently truncated.

mod common;

use std::time::Duration;

use common::{
    aof_rewrite_status, dbsize, digest_value, dump, error_reply, error_text, getall, info_field,
    info_number, insert, integer, key_exists, restore, run, skip_unless_active_defrag, text,
    used_memory, wait_for_aof_rewrite, wait_until, Server, BAD_DATA_FORMAT, INTERNAL_ERROR,
};

/// How long a BGSAVE of a few keys may take.
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(20);

fn faulty_server() -> Server {
    Server::builder().with_fault_injection().start()
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
        assert_eq!(
            error_reply(&mut con, command),
            INTERNAL_ERROR,
            "{command:?}"
        );
        // One reply only: the next command reads its own reply, not a leftover.
        assert_eq!(text(&mut con, "PING"), "PONG", "after {command:?}");
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
        let line = [command, "fresh", "fault:command", "x"];
        assert_eq!(error_reply(&mut con, &line[..]), INTERNAL_ERROR);
        assert!(
            !key_exists(&mut con, "fresh"),
            "{command} left an empty key"
        );
    }
    assert_eq!(dbsize(&mut con), 0);
    assert!(server.is_alive());
}

#[test]
fn panicking_commands_and_callbacks_leak_nothing() {
    let server = faulty_server();
    let mut con = server.connect();
    // Redis 7 allocates a latency histogram per command on first use.
    let _ = redis::cmd("CONFIG")
        .arg(&["SET", "latency-tracking", "no"])
        .exec(&mut con);
    insert(&mut con, "loaded", "fault:rdb_load", &["v"]);
    let payload = dump(&mut con, "loaded");
    let round = |con: &mut redis::Connection| {
        let mut pipe = redis::pipe();
        for i in 0..500 {
            let key = format!("new:{i}");
            pipe.cmd("MULTIMAP.INSERT")
                .arg(&key)
                .arg("fault:command")
                .arg("value");
            pipe.cmd("MULTIMAP.GET").arg("loaded").arg("fault:command");
            pipe.cmd("RESTORE").arg(&key).arg(0).arg(&payload);
        }
        // Every command fails, so the client reports the pipeline as failed.
        let _ = pipe.exec(con);
    };
    // A first round warms up what Redis allocates once (client buffers...).
    round(&mut con);
    let baseline = used_memory(&mut con);
    for _ in 0..4 {
        round(&mut con);
    }
    let after = used_memory(&mut con);
    // 2000 leaked maps, or panic payloads, would take hundreds of kilobytes.
    assert!(
        (after - baseline).abs() < 32 * 1024,
        "used_memory {baseline} before 6000 more panics, {after} after"
    );
    assert_eq!(dbsize(&mut con), 1, "only the key that was dumped");
    let panics = server.log_text().matches("aborted by a bug").count();
    assert_eq!(panics, 5 * 3 * 500, "every command and every load panicked");
}

#[test]
fn a_panicking_rdb_load_rejects_the_payload() {
    let mut server = faulty_server();
    let mut con = server.connect();
    insert(&mut con, "k", "fault:rdb_load", &["v"]);
    insert(&mut con, "k", "other", &["w"]);
    let payload = dump(&mut con, "k");
    let error = restore(&mut con, "copy", &payload).expect_err("the payload must be refused");
    assert!(error_text(&error).starts_with(BAD_DATA_FORMAT), "{error:?}");
    assert!(!key_exists(&mut con, "copy"));
    assert!(server.is_alive());
    assert!(server.log_text().contains("rdb_load aborted by a bug"));
}

#[test]
fn a_panicking_rdb_save_in_a_fork_child_fails_the_save_and_keeps_the_old_file() {
    let mut server = faulty_server();
    let mut con = server.connect();
    insert(&mut con, "good", "f", &["v"]);
    run(&mut con, "SAVE");
    let dump_file = server.dir.path().join("dump.rdb");
    let saved = std::fs::read(&dump_file).expect("dump.rdb");
    insert(&mut con, "bad", "f", &["v"]);
    insert(&mut con, "bad", "fault:rdb_save", &["v"]);
    run(&mut con, "BGSAVE");
    wait_until("the BGSAVE to end", BACKGROUND_TIMEOUT, || {
        info_number(&mut con, "persistence", "rdb_bgsave_in_progress") == 0
    });
    assert_eq!(
        info_field(&mut con, "persistence", "rdb_last_bgsave_status").as_deref(),
        Some("err")
    );
    assert_eq!(
        std::fs::read(&dump_file).unwrap(),
        saved,
        "dump.rdb changed"
    );
    assert!(server.is_alive());
    let log = server.log_text();
    assert!(log.contains("rdb_save aborted by a bug"), "{log}");
    assert!(log.contains("the child process exits so the server keeps what it had"));
}

#[test]
fn a_panicking_rdb_save_in_the_server_marks_the_payload_so_it_fails_to_load() {
    let mut server = faulty_server();
    let mut con = server.connect();
    for i in 0..20 {
        insert(&mut con, "bad", format!("field-{i}"), &["v"]);
    }
    insert(&mut con, "bad", "fault:rdb_save", &["v"]);
    let payload = dump(&mut con, "bad");
    let error = restore(&mut con, "copy", &payload).expect_err("an incomplete value must not load");
    assert!(error_text(&error).starts_with(BAD_DATA_FORMAT), "{error:?}");
    assert!(!key_exists(&mut con, "copy"));
    assert!(server.is_alive());
    let log = server.log_text();
    assert!(log.contains("rdb_save aborted by a bug"), "{log}");
    assert!(log.contains("it ends with a marker that makes loading it fail"));
}

#[test]
fn a_panicking_aof_rewrite_fails_the_rewrite_and_keeps_the_old_file() {
    let mut server = Server::builder().with_fault_injection().aof(false).start();
    let mut con = server.connect();
    insert(&mut con, "bad", "f", &["v"]);
    insert(&mut con, "bad", "fault:aof_rewrite", &["v"]);
    run(&mut con, "BGREWRITEAOF");
    wait_for_aof_rewrite(&mut con);
    assert_eq!(aof_rewrite_status(&mut con).as_deref(), Some("err"));
    // The AOF in use still takes writes, and the key is whole.
    insert(&mut con, "bad", "g", &["w"]);
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", "bad")), 3);
    assert!(server.is_alive());
    let log = server.log_text();
    assert!(log.contains("aof_rewrite aborted by a bug"), "{log}");
    assert!(log.contains("the child process exits so the server keeps what it had"));
}

#[test]
fn panics_in_the_other_callbacks_leave_the_server_and_the_key_alone() {
    let mut server = faulty_server();
    let mut con = server.connect();
    let callbacks = ["mem_usage", "digest", "copy", "free_effort"];
    for callback in callbacks {
        insert(&mut con, callback, format!("fault:{callback}"), &["v"]);
        insert(&mut con, callback, "other", &["w"]);
    }
    run(&mut con, ("MEMORY", "USAGE", "mem_usage"));
    run(&mut con, ("DEBUG", "DIGEST-VALUE", "digest"));
    let copy_error = error_reply(&mut con, ("COPY", "copy", "copied"));
    assert!(copy_error.starts_with("ERR"), "{copy_error}");
    assert!(!key_exists(&mut con, "copied"));
    assert_eq!(integer(&mut con, ("UNLINK", "free_effort")), 1);
    for key in ["mem_usage", "digest", "copy"] {
        assert_eq!(integer(&mut con, ("MULTIMAP.CARD", key)), 2, "{key}");
    }
    assert!(server.is_alive());
    let log = server.log_text();
    for callback in callbacks {
        let line = format!("{callback} aborted by a bug");
        assert!(log.contains(&line), "no '{line}' in the log:\n{log}");
    }
}

#[test]
fn a_panicking_defrag_leaves_the_server_and_the_key_alone() {
    let mut server = Server::builder()
        .with_fault_injection()
        .config("hz", "100")
        .start();
    let mut con = server.connect();
    if skip_unless_active_defrag(&mut con) {
        return;
    }
    insert(&mut con, "defrag", "fault:defrag", &["v"]);
    insert(&mut con, "defrag", "other", &["w"]);
    let before = digest_value(&mut con, "defrag");
    // Defragments all the time, whatever the fragmentation.
    for (name, value) in [
        ("active-defrag-ignore-bytes", "1"),
        ("active-defrag-threshold-lower", "0"),
        ("active-defrag-cycle-min", "25"),
        ("activedefrag", "yes"),
    ] {
        run(&mut con, &["CONFIG", "SET", name, value]);
    }
    wait_until("the defrag callback to panic", BACKGROUND_TIMEOUT, || {
        server.log_text().contains("defrag aborted by a bug")
    });
    run(&mut con, &["CONFIG", "SET", "activedefrag", "no"]);
    assert!(server.is_alive());
    assert_eq!(digest_value(&mut con, "defrag"), before);
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", "defrag")), 2);
}
