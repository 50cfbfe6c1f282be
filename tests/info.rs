//! `INFO multimap` reports the keys, fields, values and bytes (every field
//! name and value as stored, with its length prefixes) held by MultiMap keys,
//! over every database.
//! After each scenario the reported totals must equal what a full walk of the
//! keyspace finds: every command, key operation, free on the lazy-free
//! thread, expiry, eviction, load and full sync must move them by exactly
//! what it changed.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::{
    assert_exact, command, dump, error_reply, frame, info_number, insert, integer, query, reported,
    rewrite_aof, run, seed, select, show_cmd, text, unframe, wait_in_sync, wait_until, Bytes, Rng,
    Server, Totals,
};
use redis::{Connection, Value};

/// How long active expiry may take to find keys whose TTL passed.
const EXPIRY_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends a command whose failure is part of the scenario (WRONGTYPE, a
/// refused RESTORE...): only what it did to the keyspace matters.
fn attempt(con: &mut Connection, line: &redis::Cmd) {
    let _: redis::RedisResult<Value> = line.query(con);
}

/// Fills `key` with `fields` fields of `per_field` 16-byte values, pipelined.
fn fill(con: &mut Connection, key: &str, fields: usize, per_field: usize) {
    let mut pipe = redis::pipe();
    for field in 0..fields {
        let values: Vec<String> = (0..per_field)
            .map(|i| format!("{field:07}:{i:08}"))
            .collect();
        pipe.cmd("MULTIMAP.INSERT")
            .arg(key)
            .arg(format!("field:{field}"))
            .arg(values)
            .ignore();
    }
    pipe.exec(con).expect("pipelined MULTIMAP.INSERT");
}

// ---------------------------------------------------------------- the section

#[test]
fn info_multimap_is_its_own_section_shown_by_everything_and_modules_but_not_by_default() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(reported(&mut con), Totals::ZERO);
    insert(&mut con, "k", "f", &["abc", ""]);
    let section = text(&mut con, ("INFO", "multimap"));
    let lines: Vec<&str> = section.lines().filter(|line| !line.is_empty()).collect();
    assert_eq!(
        lines,
        [
            "# multimap",
            "multimap_keys:1",
            "multimap_fields:1",
            "multimap_values:2",
            "multimap_bytes:9",
            "multimap_fields_with_expiry:0",
            "multimap_expired_fields:0",
            "multimap_blocked_clients:0",
        ]
    );
    assert_eq!(text(&mut con, ("INFO", "MultiMap")), section);
    let body = section.trim_end();
    for asked in [&["INFO", "everything"][..], &["INFO", "modules"]] {
        assert!(
            text(&mut con, asked).contains(body),
            "{asked:?} shows the section"
        );
    }
    for asked in [&["INFO"][..], &["INFO", "default"], &["INFO", "all"]] {
        let info = text(&mut con, asked);
        assert!(
            !info.contains("# multimap") && !info.contains("multimap_keys"),
            "{asked:?} leaves module sections out"
        );
    }
}

// ---------------------------------------------------------------- commands

#[test]
fn every_write_moves_the_totals_by_exactly_what_it_changed() {
    let server = Server::start();
    let mut con = server.connect();
    let totals = |keys, fields, values, bytes| Totals {
        keys,
        fields,
        values,
        bytes,
    };
    // A name takes its length plus one, a short value its length plus two.
    #[rustfmt::skip]
    let steps: [(redis::Cmd, Totals); 15] = [
        (command(("MULTIMAP.INSERT", "k", "f", "abc", "")), totals(1, 1, 2, 2 + 5 + 2)),
        (command(("MULTIMAP.INSERT", "k", "f", "de")), totals(1, 1, 3, 9 + 4)),
        (command(("MULTIMAP.INSERT", "k", "", &b"\0\xff"[..])), totals(1, 2, 4, 13 + 1 + 4)),
        // 300 bytes take two-byte length prefixes each way.
        (command(("MULTIMAP.INSERT", "k", "big", &[7u8; 300][..])), totals(1, 3, 5, 18 + 4 + 304)),
        (command(("MULTIMAP.REPLACE", "k", "big", "x", "y")), totals(1, 3, 6, 326 - 304 + 6)),
        (command(("MULTIMAP.REPLACE", "k", "big", "x", "y")), totals(1, 3, 6, 28)),
        (command(("MULTIMAP.REPLACE", "k", "new", "z")), totals(1, 4, 7, 28 + 4 + 3)),
        (command(("MULTIMAP.REMOVE", "k", "f", "abc", "absent")), totals(1, 4, 6, 35 - 5)),
        (command(("MULTIMAP.REMOVE", "k", "", &b"\0\xff"[..])), totals(1, 3, 5, 30 - 5)),
        (command(("MULTIMAP.REMOVE", "k", "f", "nothing")), totals(1, 3, 5, 25)),
        (command(("MULTIMAP.INSERT", "other", "g", "v")), totals(2, 4, 6, 25 + 5)),
        (command(("MULTIMAP.DEL", "k", "big", "absent")), totals(2, 3, 4, 30 - 10)),
        (command(("MULTIMAP.DEL", "other", "g")), totals(1, 2, 3, 20 - 5)),
        (command(("MULTIMAP.DEL", "k", "f", "new")), Totals::ZERO),
        (command(("MULTIMAP.REMOVE", "missing", "f", "v")), Totals::ZERO),
    ];
    for (line, expected) in &steps {
        attempt(&mut con, line);
        let after = show_cmd(line);
        assert_eq!(assert_exact(&mut con, &after), *expected, "after {after}");
    }

    // The list-grade writes: "ab" takes 4 bytes, "c" 3, "dd" 4, "xyz" 5.
    #[rustfmt::skip]
    let list_steps: [(redis::Cmd, Totals); 9] = [
        (command(("MULTIMAP.PREPEND", "k", "f", "ab", "c")), totals(1, 1, 2, 2 + 4 + 3)),
        (command(("MULTIMAP.ADD", "k", "f", "c", "dd", "dd")), totals(1, 1, 3, 9 + 4)),
        (command(("MULTIMAP.POP", "k", "f", "LEFT")), totals(1, 1, 2, 13 - 4)),
        (command(("MULTIMAP.SET", "k", "f", 0, "xyz")), totals(1, 1, 2, 9 - 3 + 5)),
        (command(("MULTIMAP.SET", "k", "f", 0, "xyz")), totals(1, 1, 2, 11)),
        (command(("MULTIMAP.TRIM", "k", "f", 1, 1)), totals(1, 1, 1, 11 - 5)),
        (command(("MULTIMAP.BPOP", "k", "f", "LEFT", 0, "COUNT", 9)), Totals::ZERO),
        (command(("MULTIMAP.TRIM", "k", "f", 0, 0)), Totals::ZERO),
        (command(("MULTIMAP.POP", "k", "f", "RIGHT", "COUNT", 2)), Totals::ZERO),
    ];
    for (line, expected) in &list_steps {
        attempt(&mut con, line);
        let after = show_cmd(line);
        assert_eq!(assert_exact(&mut con, &after), *expected, "after {after}");
    }

    // A write refused for the key's type changes nothing.
    run(&mut con, ("SET", "string", "x"));
    error_reply(&mut con, ("MULTIMAP.INSERT", "string", "f", "v"));
    assert_eq!(assert_exact(&mut con, "a WRONGTYPE write"), Totals::ZERO);

    // Transactions and scripts run the same handlers.
    redis::pipe()
        .atomic()
        .cmd("MULTIMAP.INSERT")
        .arg(&["t", "f", "a", "b"])
        .cmd("MULTIMAP.REMOVE")
        .arg(&["t", "f", "a"])
        .exec(&mut con)
        .expect("MULTI/EXEC");
    assert_eq!(assert_exact(&mut con, "MULTI/EXEC"), totals(1, 1, 1, 2 + 3));
    let script = "redis.call('MULTIMAP.INSERT', KEYS[1], 'g', ARGV[1]); \
                  return redis.call('MULTIMAP.DEL', KEYS[1], 'f')";
    assert_eq!(integer(&mut con, ("EVAL", script, 1, "t", "vvv")), 1);
    assert_eq!(assert_exact(&mut con, "EVAL"), totals(1, 1, 1, 2 + 5));
}

/// A field name or value for the random sequence: a few that repeat, so
/// that REMOVE and DEL find what they name, and lengths either side of
/// where the encoding's length prefixes grow.
fn random_bytes(rng: &mut Rng) -> Bytes {
    if rng.chance(4) {
        let len = *rng.pick(&[0, 1, 126, 127, 128, 300]);
        return rng.bytes(len);
    }
    rng.pick(&[&b"a"[..], b"", b"\0\xff", b"value", &[b'v'; 130]])
        .to_vec()
}

/// One random step of the sequence: returns what it sent.
fn random_step(con: &mut Connection, rng: &mut Rng) -> String {
    let key = |rng: &mut Rng| *rng.pick(&["k0", "k1", "k2", "k3", "k4", "k5"]);
    let roll = rng.below(130);
    let mut lines: Vec<redis::Cmd> = Vec::new();
    if roll < 30 {
        let mut line = command(("MULTIMAP.INSERT", key(rng), random_bytes(rng)));
        for _ in 0..rng.in_range(1..5) {
            line.arg(random_bytes(rng));
        }
        lines.push(line);
    } else if roll < 40 {
        let mut line = command(("MULTIMAP.REPLACE", key(rng), random_bytes(rng)));
        for _ in 0..rng.in_range(1..4) {
            line.arg(random_bytes(rng));
        }
        lines.push(line);
    } else if roll < 55 {
        let mut line = command(("MULTIMAP.REMOVE", key(rng), random_bytes(rng)));
        for _ in 0..rng.in_range(1..4) {
            line.arg(random_bytes(rng));
        }
        lines.push(line);
    } else if roll < 63 {
        let line = command((
            "MULTIMAP.DEL",
            key(rng),
            random_bytes(rng),
            random_bytes(rng),
        ));
        lines.push(line);
    } else if roll < 68 {
        let delete = *rng.pick(&["DEL", "UNLINK"]);
        lines.push(command((delete, key(rng))));
    } else if roll < 74 {
        let mut line = command(("COPY", key(rng), key(rng)));
        if rng.chance(2) {
            line.arg("REPLACE");
        }
        if rng.chance(3) {
            line.arg(("DB", 1));
        }
        lines.push(line);
    } else if roll < 77 {
        lines.push(command(("RENAME", key(rng), key(rng))));
    } else if roll < 80 {
        lines.push(command(("MOVE", key(rng), 1)));
    } else if roll < 83 {
        lines.push(command(("SWAPDB", 0, 1)));
    } else if roll < 88 {
        let source = key(rng);
        let payload: Option<Bytes> = query(con, ("DUMP", source));
        if let Some(payload) = payload {
            lines.push(command(("RESTORE", key(rng), 0, payload, "REPLACE")));
        }
    } else if roll < 90 {
        lines.push(command(("SET", key(rng), "a string")));
    } else if roll < 94 {
        let key = key(rng);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("MULTIMAP.INSERT")
            .arg(key)
            .arg(random_bytes(rng))
            .arg(random_bytes(rng))
            .cmd("MULTIMAP.DEL")
            .arg(key)
            .arg(random_bytes(rng));
        let _: redis::RedisResult<Value> = pipe.query(con);
        return format!("MULTI, MULTIMAP.INSERT and MULTIMAP.DEL on {key}, EXEC");
    } else if roll < 96 {
        let script = "return redis.call('MULTIMAP.REPLACE', KEYS[1], ARGV[1], ARGV[2])";
        let line = command((
            "EVAL",
            script,
            1,
            key(rng),
            random_bytes(rng),
            random_bytes(rng),
        ));
        lines.push(line);
    } else if roll < 98 {
        lines.push(command(*rng.pick(&[
            &["FLUSHDB"][..],
            &["FLUSHDB", "ASYNC"],
            &["FLUSHALL"],
            &["FLUSHALL", "ASYNC"],
        ])));
    } else if roll < 100 {
        lines.push(command(&["DEBUG", "RELOAD"]));
    } else if roll < 108 {
        let name = *rng.pick(&["MULTIMAP.PREPEND", "MULTIMAP.ADD"]);
        let mut line = command((name, key(rng), random_bytes(rng)));
        for _ in 0..rng.in_range(1..4) {
            line.arg(random_bytes(rng));
        }
        lines.push(line);
    } else if roll < 112 {
        let end = *rng.pick(&["LEFT", "RIGHT"]);
        let mut line = command(("MULTIMAP.POP", key(rng), random_bytes(rng), end));
        if rng.chance(2) {
            line.arg(("COUNT", rng.below(4)));
        }
        lines.push(line);
    } else if roll < 115 {
        let index = rng.below(5) as i64 - 2;
        let line = command((
            "MULTIMAP.SET",
            key(rng),
            random_bytes(rng),
            index,
            random_bytes(rng),
        ));
        lines.push(line);
    } else if roll < 118 {
        let (start, stop) = (rng.below(3), rng.below(4) as i64 - 2);
        lines.push(command((
            "MULTIMAP.TRIM",
            key(rng),
            random_bytes(rng),
            start,
            stop,
        )));
    } else if roll < 125 {
        // Far off or at once: no field expires under the walk that follows.
        let (name, far) = *rng.pick(&[
            ("MULTIMAP.PEXPIRE", 3_600_000_i64),
            ("MULTIMAP.EXPIRE", 3_600),
            ("MULTIMAP.EXPIREAT", 4_102_444_800),
        ]);
        let time = if rng.chance(3) { 0 } else { far };
        let conditions: [&[&str]; 3] = [&[], &["NX"], &["GT"]];
        let condition = *rng.pick(&conditions);
        lines.push(command((
            name,
            key(rng),
            time,
            condition,
            "FIELDS",
            2,
            random_bytes(rng),
            random_bytes(rng),
        )));
    } else if roll < 128 {
        lines.push(command((
            "MULTIMAP.PERSIST",
            key(rng),
            "FIELDS",
            1,
            random_bytes(rng),
        )));
    } else {
        // Served at once, or timing out after a millisecond.
        let line = command((
            "MULTIMAP.BPOP",
            key(rng),
            random_bytes(rng),
            "RIGHT",
            "0.001",
            "COUNT",
            1 + rng.below(3),
        ));
        lines.push(line);
    }
    for line in &lines {
        attempt(con, line);
    }
    lines.iter().map(show_cmd).collect::<Vec<_>>().join("; ")
}

#[test]
fn a_seeded_random_sequence_of_writes_and_key_operations_keeps_the_totals_exact() {
    let seed = seed();
    let mut rng = seed.rng();
    let server = Server::start();
    let mut con = server.connect();
    let mut largest = Totals::ZERO;
    for step in 0..400 {
        let sent = random_step(&mut con, &mut rng);
        let totals = assert_exact(&mut con, &format!("step {step}: {sent} ({seed})"));
        largest.keys = largest.keys.max(totals.keys);
        largest.values = largest.values.max(totals.values);
    }
    assert!(
        largest.keys >= 4 && largest.values >= 20,
        "the sequence should have built some data: {largest:?} ({seed})"
    );
}

// ---------------------------------------------------------------- key operations

#[test]
fn key_operations_move_copy_and_free_whole_keys_exactly() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "a", "f", &["one", "two"]);
    insert(&mut con, "a", "g", &["three"]);
    let one_key = assert_exact(&mut con, "setup");
    assert_eq!(
        one_key,
        Totals {
            keys: 1,
            fields: 2,
            values: 3,
            bytes: 2 + 5 + 5 + 2 + 7
        }
    );
    let times = |n: i64| Totals {
        keys: one_key.keys * n,
        fields: one_key.fields * n,
        values: one_key.values * n,
        bytes: one_key.bytes * n,
    };

    let steps: [(&[&str], Totals); 14] = [
        (&["COPY", "a", "b"], times(2)),
        (&["COPY", "a", "b", "REPLACE"], times(2)),
        (&["COPY", "a", "c", "DB", "1"], times(3)),
        (&["RENAME", "b", "d"], times(3)),
        // The key renamed over is freed.
        (&["RENAME", "d", "a"], times(2)),
        (&["MOVE", "a", "2"], times(2)),
        (&["SWAPDB", "0", "1"], times(2)),
        (&["SWAPDB", "0", "2"], times(2)),
        (&["COPY", "a", "e"], times(3)),
        // A string stored over a MultiMap frees it.
        (&["SET", "e", "string"], times(2)),
        (&["DEBUG", "RELOAD"], times(2)),
        (&["DEL", "a"], times(1)),
        (&["FLUSHDB"], times(1)),
        (&["FLUSHALL"], Totals::ZERO),
    ];
    for (line, expected) in steps {
        run(&mut con, line);
        assert_eq!(
            assert_exact(&mut con, &line.join(" ")),
            expected,
            "{line:?}"
        );
    }

    // RESTORE loads a value; one that replaces another frees it; one whose
    // absolute TTL has passed is loaded, then freed at once.
    insert(&mut con, "a", "f", &["one", "two"]);
    insert(&mut con, "a", "g", &["three"]);
    let payload = dump(&mut con, "a");
    run(&mut con, ("RESTORE", "b", 0, &payload));
    assert_eq!(assert_exact(&mut con, "RESTORE"), times(2));
    run(&mut con, ("RESTORE", "b", 0, &payload, "REPLACE"));
    assert_eq!(assert_exact(&mut con, "RESTORE REPLACE"), times(2));
    run(&mut con, ("RESTORE", "c", 1, &payload, "ABSTTL"));
    assert_eq!(
        assert_exact(&mut con, "RESTORE of an expired key"),
        times(2)
    );
    run(&mut con, ("RESTORE", "b", 1, &payload, "ABSTTL", "REPLACE"));
    assert_eq!(
        assert_exact(&mut con, "RESTORE REPLACE of an expired key"),
        times(1)
    );
}

// ---------------------------------------------------------------- lazy free

#[test]
fn big_keys_freed_on_the_lazy_free_thread_leave_the_totals_exactly() {
    let server = Server::start();
    let mut con = server.connect();
    // Far above the 64 allocations beyond which Redis frees a value in the
    // background.
    for key in ["big:0", "big:1", "big:2"] {
        fill(&mut con, key, 100, 300);
    }
    insert(&mut con, "small", "f", &["v"]);
    let before = assert_exact(&mut con, "filling");
    assert_eq!(before.values, 3 * 100 * 300 + 1);
    let lazily_freed = info_number(&mut con, "memory", "lazyfreed_objects");
    assert_eq!(integer(&mut con, ("UNLINK", "big:0")), 1);
    let after_unlink = assert_exact(&mut con, "UNLINK of a big key");
    assert_eq!(after_unlink.keys, before.keys - 1);
    assert!(
        info_number(&mut con, "memory", "lazyfreed_objects") > lazily_freed,
        "UNLINK should have freed the key on the lazy-free thread"
    );

    // While the lazy-free thread frees big keys, commands change the totals
    // on the main thread: neither may lose the other's updates.
    for round in 0..6 {
        for key in ["big:0", "big:1", "big:2"] {
            fill(&mut con, key, 100, 300);
        }
        select(&mut con, 1);
        fill(&mut con, "big:db1", 50, 300);
        select(&mut con, 0);
        let flush = if round % 2 == 0 {
            ["FLUSHALL", "ASYNC"]
        } else {
            ["FLUSHDB", "ASYNC"]
        };
        run(&mut con, &flush[..]);
        for key in 0..100 {
            insert(&mut con, format!("new:{key}"), "f", &["v1", "v2"]);
        }
        assert_exact(&mut con, &format!("{} while writing", flush.join(" ")));
    }
    run(&mut con, &["FLUSHALL", "ASYNC"]);
    assert_eq!(assert_exact(&mut con, "FLUSHALL ASYNC"), Totals::ZERO);
}

// ---------------------------------------------------------------- expiry and eviction

#[test]
fn expired_and_evicted_keys_leave_the_totals() {
    let server = Server::start();
    let mut con = server.connect();
    // Field expiries far off, on every expiring key and on half the kept
    // ones: a key that goes takes its fields' expiries out of the count.
    let far_field_expiry = |key: String| ("MULTIMAP.EXPIRE", key, 3600, "FIELDS", 1, "f");
    for key in 0..20 {
        insert(&mut con, format!("kept:{key}"), "f", &["value"]);
        insert(&mut con, format!("expiring:{key}"), "f", &["a", "b"]);
        run(&mut con, far_field_expiry(format!("expiring:{key}")));
        if key % 2 == 0 {
            run(&mut con, far_field_expiry(format!("kept:{key}")));
        }
    }
    assert_eq!(
        info_number(&mut con, "multimap", "multimap_fields_with_expiry"),
        30
    );
    let expired = info_number(&mut con, "stats", "expired_keys");
    for key in 0..20 {
        run(&mut con, ("PEXPIRE", format!("expiring:{key}"), 50));
    }
    // Active expiry finds them without any client touching them.
    wait_until("active expiry", EXPIRY_TIMEOUT, || {
        info_number(&mut con, "stats", "expired_keys") == expired + 20
    });
    let after_expiry = assert_exact(&mut con, "active expiry");
    assert_eq!(after_expiry.keys, 20);

    // A key found expired when a command touches it is deleted then.
    run(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    insert(&mut con, "touched", "f", &["v"]);
    run(&mut con, far_field_expiry("touched".to_owned()));
    run(&mut con, ("PEXPIRE", "touched", 1));
    sleep(Duration::from_millis(20));
    assert_eq!(integer(&mut con, ("EXISTS", "touched")), 0);
    assert_eq!(assert_exact(&mut con, "expiry on access"), after_expiry);
    run(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);

    // Eviction: a limit below what the keys use makes the next write evict.
    for key in 0..200 {
        let values: Vec<String> = (0..40).map(|i| format!("{key:05}:{i:045}")).collect();
        insert(&mut con, format!("evictable:{key}"), "f", &values);
        if key % 2 == 0 {
            run(&mut con, far_field_expiry(format!("evictable:{key}")));
        }
    }
    let used = info_number(&mut con, "memory", "used_memory");
    run(
        &mut con,
        ("CONFIG", "SET", "maxmemory-policy", "allkeys-random"),
    );
    run(
        &mut con,
        ("CONFIG", "SET", "maxmemory", (used - 200_000).to_string()),
    );
    attempt(&mut con, &command(("SET", "trigger", "x")));
    run(&mut con, ("CONFIG", "SET", "maxmemory", "0"));
    assert!(
        info_number(&mut con, "stats", "evicted_keys") > 0,
        "keys were evicted"
    );
    assert_exact(&mut con, "eviction");
}

// ---------------------------------------------------------------- loading

#[test]
fn debug_reload_and_a_restart_count_what_they_load() {
    let server = Server::start();
    let mut con = server.connect();
    for key in 0..30 {
        select(&mut con, key % 3);
        insert(
            &mut con,
            format!("k{key}"),
            "f",
            &["x", &"y".repeat(key as usize)],
        );
        insert(&mut con, format!("k{key}"), format!("g{key}"), &["z"]);
    }
    select(&mut con, 0);
    let before = assert_exact(&mut con, "filling");
    run(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(assert_exact(&mut con, "DEBUG RELOAD"), before);

    // Keys whose TTL passes while the server is down are dropped as the
    // restarted master loads them.
    for key in 0..5 {
        run(&mut con, ("PEXPIRE", format!("k{}", 3 * key), 300));
    }
    run(&mut con, &["SAVE"]);
    let dir = server.stop();
    sleep(Duration::from_millis(400));
    let restarted = Server::builder().in_dir(dir).start();
    let mut con = restarted.connect();
    let loaded = assert_exact(&mut con, "a restart from the RDB");
    assert_eq!(loaded.keys, before.keys - 5);
}

#[test]
fn a_restart_from_the_aof_counts_what_it_replays() {
    for rdb_preamble in [true, false] {
        let server = Server::builder().aof(rdb_preamble).start();
        let mut con = server.connect();
        for key in 0..20 {
            fill(&mut con, &format!("k{key}"), 4, 1 + key % 3);
        }
        // The rewritten AOF starts with an RDB of these keys, or rebuilds
        // them with commands; later writes follow as commands.
        rewrite_aof(&mut con);
        for key in 0..20 {
            run(&mut con, ("MULTIMAP.DEL", format!("k{key}"), "field:0"));
            run(&mut con, ("MULTIMAP.INSERT", format!("new{key}"), "f", "v"));
        }
        run(&mut con, ("UNLINK", "k3"));
        let before = assert_exact(&mut con, "writing");
        let dir = server.stop();
        let restarted = Server::builder().aof(rdb_preamble).in_dir(dir).start();
        let mut con = restarted.connect();
        let after = format!("a restart from the AOF (RDB preamble: {rdb_preamble})");
        assert_eq!(assert_exact(&mut con, &after), before);
    }
}

/// The module id of a genuine DUMP payload body (after the type byte), and
/// the RDB version of its footer.
fn module_header(con: &mut Connection) -> (Bytes, [u8; 2]) {
    insert(con, "genuine", "f", &["v"]);
    let (body, version) = unframe(&dump(con, "genuine"));
    run(con, ("DEL", "genuine"));
    // Type byte, then the 64-bit module id as a 9-byte RDB length.
    assert_eq!(body[1], 0x81, "a 64-bit module id");
    (body[..10].to_vec(), version)
}

/// A field's record as RDB encoding version 1 stores it, for values shorter
/// than 127 bytes: the name's length, the name, then each value's length,
/// bytes and back-length.
fn record(field: &[u8], values: &[&[u8]]) -> Bytes {
    let mut record = vec![field.len() as u8];
    record.extend_from_slice(field);
    for value in values {
        record.push(value.len() as u8);
        record.extend_from_slice(value);
        record.push(value.len() as u8 + 1);
    }
    record
}

/// A MultiMap payload: `field_count`, then each (value count, record), an
/// empty expiry section (encoding version 2), then Redis's end-of-value
/// marker.
fn payload(header: &(Bytes, [u8; 2]), field_count: u8, fields: &[(u8, Bytes)]) -> Bytes {
    const OPCODE_UINT: u8 = 2;
    const OPCODE_STRING: u8 = 5;
    const OPCODE_EOF: u8 = 0;
    let mut body = header.0.clone();
    body.extend([OPCODE_UINT, field_count]);
    for (value_count, record) in fields {
        body.extend([OPCODE_UINT, *value_count, OPCODE_STRING, record.len() as u8]);
        body.extend_from_slice(record);
    }
    body.extend([OPCODE_UINT, 0]);
    body.push(OPCODE_EOF);
    frame(&body, header.1)
}

#[test]
fn payloads_the_loader_or_redis_refuses_count_nothing() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "kept", "f", &["v"]);
    let header = module_header(&mut con);
    let first = record(b"f", &[b"a", b"bc"]);
    let second = record(b"g", &[b"d"]);
    let good = payload(&header, 2, &[(2, first.clone()), (1, second.clone())]);
    run(&mut con, ("RESTORE", "good", 0, &good));
    let before = assert_exact(&mut con, "a forged but valid payload");
    assert_eq!(
        before,
        Totals {
            keys: 2,
            fields: 3,
            values: 4,
            bytes: 5 + (2 + 3 + 4) + (2 + 3)
        }
    );

    let refused = [
        // The loader builds the first field, then meets a bad second one.
        payload(&header, 2, &[(2, first.clone()), (5, second.clone())]),
        payload(&header, 2, &[(2, first.clone()), (2, first.clone())]),
        // Truncated after the first field.
        frame(&unframe(&good).0[..10 + 2 + 4 + first.len()], header.1),
        // The loader accepts one field, then reads the second one's value
        // count as the expiry section and meets a string where it wants a
        // field position: it frees what it built.
        payload(&header, 1, &[(2, first.clone()), (1, second.clone())]),
    ];
    for (case, payload) in refused.iter().enumerate() {
        let error = error_reply(&mut con, ("RESTORE", "refused", 0, payload));
        assert!(!error.is_empty());
        assert_eq!(
            assert_exact(&mut con, &format!("refused payload {case}")),
            before
        );
    }
}

// ---------------------------------------------------------------- replication

#[test]
fn replicas_report_the_masters_totals_after_a_full_sync() {
    let master = Server::builder().master().start();
    let mut con = master.connect();
    for db in 0..2 {
        select(&mut con, db);
        for key in 0..40 {
            fill(&mut con, &format!("k{key}"), 5, 3 + key % 4);
        }
    }
    select(&mut con, 0);
    let on_master = assert_exact(&mut con, "filling the master");

    // One replica loads the RDB from disk after flushing its old data, the
    // other loads it from the socket into a spare keyspace it swaps in.
    let replicas = [
        Server::start(),
        Server::builder()
            .config("repl-diskless-load", "swapdb")
            .start(),
    ];
    for replica in &replicas {
        let mut replica_con = replica.connect();
        // Data of its own, which the full sync replaces.
        fill(&mut replica_con, "stale", 20, 20);
        fill(&mut replica_con, "k0", 3, 3);
        run(&mut replica_con, ("REPLICAOF", "127.0.0.1", master.port));
        wait_in_sync(&mut con, &mut replica_con);
        assert_eq!(assert_exact(&mut replica_con, "a full sync"), on_master);
    }

    for key in 0..40 {
        run(&mut con, ("MULTIMAP.INSERT", format!("k{key}"), "new", "v"));
        run(
            &mut con,
            ("MULTIMAP.DEL", format!("k{}", key / 2), "field:1"),
        );
    }
    run(&mut con, ("UNLINK", "k39"));
    let on_master = assert_exact(&mut con, "writes on the master");
    for replica in &replicas {
        let mut replica_con = replica.connect();
        wait_in_sync(&mut con, &mut replica_con);
        assert_eq!(
            assert_exact(&mut replica_con, "replicated writes"),
            on_master
        );
    }
}

// ---------------------------------------------------------------- panics

#[test]
fn commands_and_callbacks_that_panic_leave_the_totals_exact() {
    let server = Server::builder().with_fault_injection().start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    insert(&mut con, "copy-me", "fault:copy", &["x"]);
    insert(&mut con, "load-me", "fault:rdb_load", &["x"]);
    let before = assert_exact(&mut con, "setup");
    let failing: [&[&str]; 5] = [
        // On a new key: the value is created, then the handler panics.
        &["MULTIMAP.INSERT", "fresh", "fault:command", "x"],
        &["MULTIMAP.REPLACE", "fresh", "fault:command", "x"],
        &["MULTIMAP.INSERT", "k", "fault:command", "x"],
        &["MULTIMAP.DEL", "k", "fault:command"],
        &["COPY", "copy-me", "copied"],
    ];
    for line in failing {
        error_reply(&mut con, line);
        assert_eq!(assert_exact(&mut con, &line.join(" ")), before, "{line:?}");
    }
    let payload = dump(&mut con, "load-me");
    error_reply(&mut con, ("RESTORE", "loaded", 0, &payload));
    assert_eq!(assert_exact(&mut con, "a panicking rdb_load"), before);
}
