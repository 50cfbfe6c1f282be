//! A replica (a second real redis-server with the module) ends up with exactly
//! the master's data, and writes that change nothing are not propagated.
//! Field expiries travel in the full sync; a replica hides expired fields
//! from its clients but removes them only when its master says so, or once
//! it is promoted.

mod common;

use std::time::Duration;

use common::{
    assert_expiry_totals, command, dbsize, digest, digest_value, expired_fields, getall, insert,
    integer, key_exists, master_offset, per_field, pexpireat, run, seed, server_time_ms,
    stored_fields, timed_content, wait_for_expired_fields, wait_for_key_removed,
    wait_for_server_time, wait_in_sync, ExpiringKeys, Fields, Server, ACTIVE_EXPIRY_BOUND,
    NO_FIELD, NO_OP_SETUP, NO_OP_WRITES, TIMED, VANISHING,
};
use redis::Value;

#[test]
fn replica_is_byte_identical_after_full_sync_and_a_stream_of_writes() {
    let seed = seed();
    let mut rng = seed.rng();
    let master = Server::builder().master().start();
    let mut con = master.connect();
    // Data present before the replica attaches travels in the full sync (RDB).
    for key in 0..50 {
        for field in 0..20 {
            let key = format!("k{key}");
            let field = format!("f{field}\0\u{ff}");
            run(
                &mut con,
                ("MULTIMAP.INSERT", key, field, "a", "\0", "", "a"),
            );
        }
    }
    let replica = Server::builder().replica_of(&master).start();
    let mut replica_con = replica.connect();
    wait_in_sync(&mut con, &mut replica_con);
    assert_eq!(digest(&mut con), digest(&mut replica_con));

    // Then a stream of mixed writes travels as commands.
    for _ in 0..3000 {
        let key = format!("k{}", rng.below(60));
        let field = format!("f{}\0\u{ff}", rng.below(25));
        let value = format!("v{}", rng.below(5));
        let index = rng.below(7) as i64 - 3;
        let end = *rng.pick(&["LEFT", "RIGHT"]);
        match *rng.pick(&[
            "MULTIMAP.INSERT",
            "MULTIMAP.REMOVE",
            "MULTIMAP.REPLACE",
            "MULTIMAP.DEL",
            "MULTIMAP.PREPEND",
            "MULTIMAP.ADD",
            "MULTIMAP.POP",
            "MULTIMAP.SET",
            "MULTIMAP.TRIM",
        ]) {
            "MULTIMAP.DEL" => run(&mut con, ("MULTIMAP.DEL", key, field)),
            "MULTIMAP.POP" => run(
                &mut con,
                ("MULTIMAP.POP", key, field, end, "COUNT", rng.below(3)),
            ),
            "MULTIMAP.TRIM" => run(&mut con, ("MULTIMAP.TRIM", key, field, index, -1)),
            // A missing field or an index out of range is an error that
            // changes nothing; the others must replicate.
            "MULTIMAP.SET" => {
                let _ =
                    command(("MULTIMAP.SET", key, field, index, value)).query::<Value>(&mut con);
                Value::Nil
            }
            command => run(&mut con, (command, key, field, value)),
        };
    }
    wait_in_sync(&mut con, &mut replica_con);
    let master_digest = digest(&mut con);
    assert_ne!(
        master_digest,
        "0".repeat(40),
        "the master should hold data ({seed})"
    );
    assert_eq!(master_digest, digest(&mut replica_con), "{seed}");
    assert_eq!(dbsize(&mut con), dbsize(&mut replica_con), "{seed}");
}

#[test]
fn writes_that_change_nothing_do_not_move_the_replication_offset() {
    // The master pings its replicas periodically, which moves the offset too:
    // make that period far longer than the test.
    let master = Server::builder()
        .master()
        .config("repl-ping-replica-period", "3600")
        .start();
    let mut con = master.connect();
    run(&mut con, NO_OP_SETUP);
    // The offset only exists once a replica is attached.
    let replica = Server::builder().replica_of(&master).start();
    wait_in_sync(&mut con, &mut replica.connect());
    let before = master_offset(&mut con);
    for command in NO_OP_WRITES {
        run(&mut con, command);
    }
    for read in [&["MULTIMAP.GET", "k", "f"][..], &["MULTIMAP.GETALL", "k"]] {
        run(&mut con, read);
    }
    assert_eq!(master_offset(&mut con), before);
    run(&mut con, &["MULTIMAP.REMOVE", "k", "f", "a"]);
    assert!(
        master_offset(&mut con) > before,
        "a real change must replicate"
    );
}

#[test]
fn full_sync_carries_field_expiries_and_the_masters_removals_reach_the_replica() {
    let master = Server::builder().master().start();
    let mut con = master.connect();
    let keys = ExpiringKeys::write(&mut con, Duration::from_secs(4));
    let replica = Server::builder().replica_of(&master).start();
    let mut on_replica = replica.connect();
    wait_in_sync(&mut con, &mut on_replica);
    keys.assert_carried(&mut on_replica, TIMED, &keys.timed);
    keys.assert_carried(&mut on_replica, VANISHING, &keys.vanishing);
    assert_eq!(
        digest_value(&mut on_replica, TIMED),
        digest_value(&mut con, TIMED)
    );
    assert_eq!(digest(&mut on_replica), digest(&mut con));

    let alive = keys.assert_carried(&mut con, TIMED, &keys.timed)
        + keys.assert_carried(&mut con, VANISHING, &keys.vanishing);
    keys.assert_reclaimed(&mut con, TIMED, &keys.timed, VANISHING, alive);
    wait_in_sync(&mut con, &mut on_replica);
    assert!(!key_exists(&mut on_replica, VANISHING));
    assert_eq!(
        timed_content(&mut on_replica, TIMED),
        keys.after_soon(&keys.timed)
    );
    assert_eq!(digest(&mut on_replica), digest(&mut con));
    assert_eq!(stored_fields(&mut on_replica), stored_fields(&mut con));
}

/// With its master gone, a replica serves no expired field, yet keeps them
/// all (it never removes fields by itself) until it is promoted, when it
/// removes them as any master does.
#[test]
fn a_replica_hides_expired_fields_and_removes_them_only_once_promoted() {
    let master = Server::builder().master().start();
    let mut con = master.connect();
    let replica = Server::builder().replica_of(&master).start();
    let mut on_replica = replica.connect();
    wait_in_sync(&mut con, &mut on_replica);
    let at = server_time_ms(&mut con) + 1500;
    insert(&mut con, "k", "keep", &["k"]);
    for field in ["a", "b"] {
        insert(&mut con, "k", field, &["v"]);
    }
    pexpireat(&mut con, b"k", at, &["a", "b"]);
    insert(&mut con, "whole", "only", &["v"]);
    pexpireat(&mut con, b"whole", at, &["only"]);
    wait_in_sync(&mut con, &mut on_replica);
    // The master can no longer tell the replica to remove anything.
    drop(master.stop());
    let digests = [
        digest_value(&mut on_replica, "k"),
        digest_value(&mut on_replica, "whole"),
    ];

    // Until well past the time active expiry would have removed them...
    wait_for_server_time(&mut on_replica, at + ACTIVE_EXPIRY_BOUND.as_millis() as i64);
    // ...reads see only the live field...
    let keep: Fields = [(b"keep".to_vec(), vec![b"k".to_vec()])].into();
    assert_eq!(getall(&mut on_replica, "k"), keep);
    assert_eq!(integer(&mut on_replica, ("MULTIMAP.CARD", "k")), 1);
    assert_eq!(integer(&mut on_replica, ("MULTIMAP.SIZE", "whole")), 0);
    assert_eq!(integer(&mut on_replica, ("MULTIMAP.EXISTS", "k", "a")), 0);
    assert_eq!(
        per_field(&mut on_replica, "MULTIMAP.PTTL", b"k", &["a", "b", "keep"]),
        [NO_FIELD, NO_FIELD, -1]
    );
    // ...but the replica still stores every field.
    assert_eq!(stored_fields(&mut on_replica), 4);
    assert_eq!(expired_fields(&mut on_replica), 0);
    assert!(key_exists(&mut on_replica, "whole"));
    assert_eq!(dbsize(&mut on_replica), 2);
    assert_eq!(
        [
            digest_value(&mut on_replica, "k"),
            digest_value(&mut on_replica, "whole")
        ],
        digests
    );

    run(&mut on_replica, &["REPLICAOF", "NO", "ONE"]);
    let promoted = server_time_ms(&mut on_replica);
    wait_for_key_removed(&mut on_replica, b"whole", promoted);
    assert_eq!(wait_for_expired_fields(&mut on_replica, 3, promoted), 3);
    assert_eq!(stored_fields(&mut on_replica), 1);
    assert_eq!(getall(&mut on_replica, "k"), keep);
    assert_expiry_totals(&mut on_replica, "the promoted replica's active expiry");
}
