//! A replica (a second real redis-server with the module) ends up with exactly
//! the master's data, and writes that change nothing are not propagated.

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{info_field, Server};
use redis::Connection;

fn master_offset(con: &mut Connection) -> i64 {
    info_field(con, "replication", "master_repl_offset")
        .and_then(|offset| offset.parse().ok())
        .expect("master_repl_offset")
}

fn digest(con: &mut Connection) -> String {
    redis::cmd("DEBUG").arg("DIGEST").query(con).unwrap()
}

/// A master that starts a full sync as soon as a replica asks.
fn master() -> Server {
    Server::builder()
        .config("repl-diskless-sync-delay", "0")
        .start()
}

fn start_replica_of(master: &Server) -> Server {
    Server::builder()
        .config_values("replicaof", &["127.0.0.1", &master.port.to_string()])
        .start()
}

/// Waits until the replica is linked and has applied everything the master sent.
fn wait_in_sync(master: &mut Connection, replica: &mut Connection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let linked =
            info_field(replica, "replication", "master_link_status").as_deref() == Some("up");
        let applied: i64 = info_field(replica, "replication", "slave_repl_offset")
            .and_then(|offset| offset.parse().ok())
            .unwrap_or(-1);
        if linked && applied == master_offset(master) {
            return;
        }
        assert!(Instant::now() < deadline, "replica never caught up");
        sleep(Duration::from_millis(20));
    }
}

fn run(con: &mut Connection, args: &[&[u8]]) -> redis::Value {
    redis::cmd(std::str::from_utf8(args[0]).unwrap())
        .arg(&args[1..])
        .query(con)
        .unwrap()
}

#[test]
fn replica_is_byte_identical_after_full_sync_and_a_stream_of_writes() {
    let master = master();
    let mut con = master.connect();
    // Data present before the replica attaches travels in the full sync (RDB).
    for key in 0..50 {
        for field in 0..20 {
            let key = format!("k{key}");
            let field = format!("f{field}\0\u{ff}");
            run(
                &mut con,
                &[
                    b"MULTIMAP.INSERT",
                    key.as_bytes(),
                    field.as_bytes(),
                    b"a",
                    b"\0",
                    b"",
                    b"a",
                ],
            );
        }
    }
    let replica = start_replica_of(&master);
    let mut replica_con = replica.connect();
    wait_in_sync(&mut con, &mut replica_con);
    assert_eq!(digest(&mut con), digest(&mut replica_con));

    // Then a stream of mixed writes travels as commands.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = format!("k{}", state % 60);
        let field = format!("f{}\0\u{ff}", (state >> 8) % 25);
        let value = format!("v{}", (state >> 16) % 5);
        let command: &[u8] = match (state >> 24) % 4 {
            0 => b"MULTIMAP.INSERT",
            1 => b"MULTIMAP.REMOVE",
            2 => b"MULTIMAP.REPLACE",
            _ => b"MULTIMAP.DEL",
        };
        let args: Vec<&[u8]> = if command == b"MULTIMAP.DEL" {
            vec![command, key.as_bytes(), field.as_bytes()]
        } else {
            vec![command, key.as_bytes(), field.as_bytes(), value.as_bytes()]
        };
        run(&mut con, &args);
    }
    wait_in_sync(&mut con, &mut replica_con);
    let master_digest = digest(&mut con);
    assert_ne!(master_digest, "0".repeat(40), "the master should hold data");
    assert_eq!(master_digest, digest(&mut replica_con));
    let dbsize = |con: &mut Connection| -> i64 { redis::cmd("DBSIZE").query(con).unwrap() };
    assert_eq!(dbsize(&mut con), dbsize(&mut replica_con));
}

#[test]
fn writes_that_change_nothing_do_not_move_the_replication_offset() {
    // The master pings its replicas periodically, which moves the offset too:
    // make that period far longer than the test.
    let master = Server::builder()
        .config("repl-diskless-sync-delay", "0")
        .config("repl-ping-replica-period", "3600")
        .start();
    let mut con = master.connect();
    run(&mut con, &[b"MULTIMAP.INSERT", b"k", b"f", b"a", b"b"]);
    // The offset only exists once a replica is attached.
    let replica = start_replica_of(&master);
    let mut replica_con = replica.connect();
    wait_in_sync(&mut con, &mut replica_con);
    let before = master_offset(&mut con);
    let no_ops: [&[&[u8]]; 6] = [
        &[b"MULTIMAP.REMOVE", b"k", b"f", b"absent"],
        &[b"MULTIMAP.REMOVE", b"k", b"nofield", b"a"],
        &[b"MULTIMAP.REMOVE", b"nokey", b"f", b"a"],
        &[b"MULTIMAP.DEL", b"k", b"nofield"],
        &[b"MULTIMAP.DEL", b"nokey", b"f"],
        &[b"MULTIMAP.REPLACE", b"k", b"f", b"a", b"b"],
    ];
    for command in no_ops {
        run(&mut con, command);
    }
    for read in [
        &[&b"MULTIMAP.GET"[..], b"k", b"f"][..],
        &[b"MULTIMAP.GETALL", b"k"],
    ] {
        run(&mut con, read);
    }
    assert_eq!(master_offset(&mut con), before);
    run(&mut con, &[b"MULTIMAP.REMOVE", b"k", b"f", b"a"]);
    assert!(
        master_offset(&mut con) > before,
        "a real change must replicate"
    );
}
