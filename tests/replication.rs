//! A replica (a second real redis-server with the module) ends up with exactly
//! the master's data, field expiries included (in the full sync too, and the
//! master's removals follow), and writes that change nothing are not
//! propagated.

mod common;

use std::time::Duration;

use common::{
    command, dbsize, digest, digest_value, key_exists, master_offset, run, seed, stored_fields,
    timed_content, wait_in_sync, ExpiringKeys, Server, NO_OP_SETUP, NO_OP_WRITES, TIMED, VANISHING,
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
            "MULTIMAP.PEXPIRE",
            "MULTIMAP.PERSIST",
        ]) {
            "MULTIMAP.DEL" => run(&mut con, ("MULTIMAP.DEL", key, field)),
            "MULTIMAP.POP" => run(
                &mut con,
                ("MULTIMAP.POP", key, field, end, "COUNT", rng.below(3)),
            ),
            "MULTIMAP.TRIM" => run(&mut con, ("MULTIMAP.TRIM", key, field, index, -1)),
            // Relative on the master, absolute on the replica: the digests
            // (which cover expiries) agree only if the master's time travels.
            // A time of 0 deletes the field; none comes due during the test.
            "MULTIMAP.PEXPIRE" => {
                let time = *rng.pick(&[0, 3_600_000, 7_200_001]);
                run(
                    &mut con,
                    ("MULTIMAP.PEXPIRE", key, time, "FIELDS", 1, field),
                )
            }
            "MULTIMAP.PERSIST" => run(&mut con, ("MULTIMAP.PERSIST", key, "FIELDS", 1, field)),
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

    keys.assert_carried_then_reclaimed(&mut con, TIMED, VANISHING);
    wait_in_sync(&mut con, &mut on_replica);
    assert!(!key_exists(&mut on_replica, VANISHING));
    assert_eq!(
        timed_content(&mut on_replica, TIMED),
        keys.after_soon(&keys.timed)
    );
    assert_eq!(digest(&mut on_replica), digest(&mut con));
    assert_eq!(stored_fields(&mut on_replica), stored_fields(&mut con));
}
