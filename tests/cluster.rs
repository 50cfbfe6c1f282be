//! Redis Cluster: MultiMap keys shard by hash slot like any key, nodes redirect
//! with MOVED, and resharding (`redis-cli --cluster reshard`, which moves keys
//! with MIGRATE, i.e. DUMP/RESTORE) carries them over byte for byte, as does
//! Valkey 9's atomic slot migration (which replays our AOF rewrite). Both
//! carry field expiries, and the fields still expire on the node they land on.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    assert_exact, cluster_client, dbsize, deadline_after, digest_value, error_text, getall,
    has_atomic_slot_migration, info_number, insert, integer, key_exists, key_slot, key_type,
    migrate_slots, node_id, per_field, pexpireat, redis_cli, run, served_slots, server_time_ms,
    skip_unless, slot_migration_ended, slot_migrations, start_cluster, start_cluster_of,
    timed_content, wait_for, wait_for_slot_migrations, wait_until, wait_until_cluster_ok, Bytes,
    Fields, Server, TimedFields, Totals, NO_EXPIRY,
};

const KEYS: usize = 3000;

/// What key `index` holds: a few fields with binary values, varying by key.
fn content_of(index: usize) -> Fields {
    (0..1 + index % 3)
        .map(|field| {
            let name = format!("field-{field}\0").into_bytes();
            let values = (0..1 + (index + field) % 4)
                .map(|value| [&[0xff, 0x00][..], format!("{index}:{value}").as_bytes()].concat())
                .collect();
            (name, values)
        })
        .collect()
}

fn key_name(index: usize) -> String {
    format!("mm:{index}")
}

fn key_count(node: &Server) -> i64 {
    dbsize(&mut node.connect())
}

/// Moves 3000 slots from the first node to the second with `redis-cli
/// --cluster reshard` (MIGRATE underneath), waits for the cluster to be ok
/// again, and checks that keys went with the slots.
fn reshard_3000_slots_from_first_to_second(nodes: &[Server]) {
    let before = key_count(&nodes[1]);
    let (from, to) = (node_id(&nodes[0]), node_id(&nodes[1]));
    redis_cli(&[
        "--cluster",
        "reshard",
        &nodes[0].address(),
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        "3000",
        "--cluster-yes",
    ]);
    wait_until_cluster_ok(nodes);
    assert!(key_count(&nodes[1]) > before, "resharding moved keys");
}

#[test]
fn multimap_keys_shard_redirect_and_survive_resharding_byte_for_byte() {
    let nodes = start_cluster(3);
    let mut cluster = cluster_client(&nodes);
    for index in 0..KEYS {
        for (field, values) in content_of(index) {
            insert(&mut cluster, key_name(index), field, &values);
        }
    }
    let counts: Vec<i64> = nodes.iter().map(key_count).collect();
    assert_eq!(counts.iter().sum::<i64>(), KEYS as i64);
    assert!(
        counts.iter().all(|&count| count > 0),
        "keys spread over every node: {counts:?}"
    );

    // A node that does not own a key's slot redirects, as for any key.
    let key = key_name(0);
    let slot = integer(&mut nodes[0].connect(), ("CLUSTER", "KEYSLOT", &key));
    let mut redirected = 0;
    for node in &nodes {
        let reply = redis::cmd("MULTIMAP.GETALL")
            .arg(&key)
            .query::<redis::Value>(&mut node.connect());
        if let Err(error) = reply {
            let text = error_text(&error);
            assert!(
                text.starts_with(&format!("MOVED {slot} 127.0.0.1:")),
                "{text}"
            );
            redirected += 1;
        }
    }
    assert_eq!(redirected, 2, "exactly the two non-owners redirect");

    // Move a third of the slot space between nodes; MIGRATE carries our keys.
    reshard_3000_slots_from_first_to_second(&nodes);
    assert_eq!(nodes.iter().map(key_count).sum::<i64>(), KEYS as i64);

    let mut cluster = cluster_client(&nodes);
    for index in 0..KEYS {
        let key = key_name(index);
        assert_eq!(getall(&mut cluster, &key), content_of(index), "{key}");
        assert_eq!(key_type(&mut cluster, &key), "rmultimap", "{key}");
    }
    // INFO multimap on each node counts the keys it holds after MIGRATE
    // restored some on one side and deleted them on the other.
    for node in &nodes {
        let totals = assert_exact(&mut node.connect(), "resharding");
        assert_eq!(totals.keys, key_count(node));
    }
}

/// The slots a test migrates: two ranges at the start of what `source`
/// serves, so several SLOTSRANGE pairs go in one command.
fn slots_to_migrate(source: &Server) -> Vec<(i64, i64)> {
    let (first, last) = served_slots(source)[0];
    assert!(last - first > 4000, "{first}-{last}");
    vec![(first, first + 1499), (first + 2000, first + 2999)]
}

fn in_ranges(slot: i64, ranges: &[(i64, i64)]) -> bool {
    ranges
        .iter()
        .any(|&(first, last)| (first..=last).contains(&slot))
}

/// A key with a value of every awkward shape: binary and empty fields and
/// values, duplicates, a field of more values than one rewritten AOF command
/// carries, and one of more bytes than one carries.
fn big_content() -> Fields {
    let mut content = Fields::new();
    content.insert(
        b"many\0".to_vec(),
        (0..5000u32)
            .map(|value| [&b"\xff\0"[..], &(value % 4000).to_be_bytes()].concat())
            .collect(),
    );
    content.insert(
        b"\xfe\xff heavy".to_vec(),
        (0..3u8).map(|value| vec![value; 700_000]).collect(),
    );
    content.insert(Vec::new(), vec![Vec::new(), b"\0".to_vec(), Vec::new()]);
    for field in 0..300u32 {
        content.insert(
            field.to_le_bytes().to_vec(),
            vec![field.to_be_bytes().to_vec()],
        );
    }
    content
}

fn fill(con: &mut redis::Connection, key: &[u8], content: &Fields) {
    for (field, values) in content {
        for batch in values.chunks(500) {
            insert(con, key, field, batch);
        }
    }
}

const NO_ATOMIC_SLOT_MIGRATION: &str =
    "atomic slot migration (CLUSTER MIGRATESLOTS) came with Valkey 9.0";

#[test]
fn atomic_slot_migration_moves_multimap_keys_byte_for_byte() {
    if skip_unless(has_atomic_slot_migration(), NO_ATOMIC_SLOT_MIGRATION) {
        return;
    }
    // redis-cli makes clusters of three masters at least.
    let nodes = start_cluster(3);
    let (source, target) = (&nodes[0], &nodes[1]);
    let ranges = slots_to_migrate(source);
    let mut con = source.connect();

    // Keys of the source, in and out of the slots that move.
    let served = served_slots(source);
    let mut keys: Vec<(Bytes, bool)> = Vec::new();
    let mut index = 0usize;
    let mut big_placed = false;
    while keys.len() < 400 || !big_placed {
        index += 1;
        let name = [&b"mm:\xff"[..], index.to_string().as_bytes()].concat();
        let slot = key_slot(&mut con, &name);
        if !in_ranges(slot, &served) {
            continue;
        }
        let moves = in_ranges(slot, &ranges);
        let content = if moves && !big_placed {
            big_placed = true;
            big_content()
        } else {
            content_of(index)
        };
        fill(&mut con, &name, &content);
        keys.push((name, moves));
    }
    let moving: Vec<&Bytes> = keys
        .iter()
        .filter_map(|(name, moves)| moves.then_some(name))
        .collect();
    assert!(
        moving.len() > 50 && moving.len() < keys.len(),
        "{} of {}",
        moving.len(),
        keys.len()
    );

    // Held in the streaming phase (the snapshot sent, writes to the moving
    // slots still served here and forwarded), so that writes of every kind
    // reach the target through the migration's replication stream too.
    run(&mut con, &["DEBUG", "SLOTMIGRATION", "PREVENT-PAUSE", "1"]);
    migrate_slots(source, &ranges, target);
    wait_for_slot_migrations(source, |migration| migration["state"] == "waiting-to-pause");
    let created = moving_key_named(&mut con, &ranges, "created");
    insert(&mut con, &created, b"\0new", &[&b""[..], b"\xff"]);
    insert(&mut con, moving[1], b"field-0\0", &[&b"appended\0"[..]]);
    let removed = getall(&mut con, moving[2])[&b"field-0\0"[..]][0].clone();
    let remove = ("MULTIMAP.REMOVE", moving[2], b"field-0\0", removed);
    assert_eq!(integer(&mut con, remove), 1);
    run(
        &mut con,
        ("MULTIMAP.REPLACE", moving[3], b"field-0\0", b"replaced"),
    );
    let emptied = moving[4];
    let emptied_fields: Vec<Bytes> = getall(&mut con, emptied).into_keys().collect();
    run(&mut con, ("MULTIMAP.DEL", emptied, emptied_fields));
    assert!(!key_exists(&mut con, emptied));

    // What the target must hold: every key as the source has it now.
    let expected: BTreeMap<Bytes, (Fields, String, bool)> = keys
        .iter()
        .map(|(name, moves)| (name, *moves))
        .chain([(&created, true)])
        .filter_map(|(name, moves)| {
            let content = key_exists(&mut con, name).then(|| getall(&mut con, name))?;
            Some((name.clone(), (content, digest_value(&mut con, name), moves)))
        })
        .collect();
    assert_eq!(expected.len(), keys.len(), "one key created, one emptied");

    run(&mut con, &["DEBUG", "SLOTMIGRATION", "PREVENT-PAUSE", "0"]);
    let migrations = wait_for_slot_migrations(source, slot_migration_ended);
    assert_eq!(migrations.len(), 1, "{migrations:?}");
    assert_eq!(migrations[0]["state"], "success", "{migrations:?}");
    wait_until_cluster_ok(&nodes);

    let mut on_target = target.connect();
    let mut on_source = source.connect();
    for (name, (content, digest, moves)) in &expected {
        let (holder, other) = if *moves {
            (&mut on_target, &mut on_source)
        } else {
            (&mut on_source, &mut on_target)
        };
        let shown = name.escape_ascii();
        assert_eq!(&getall(holder, name), content, "{shown}");
        assert_eq!(&digest_value(holder, name), digest, "{shown}");
        assert_eq!(key_type(holder, name), "rmultimap", "{shown}");
        let slot = key_slot(other, name);
        let left_behind = integer(other, ("CLUSTER", "COUNTKEYSINSLOT", slot));
        assert_eq!(left_behind, 0, "{shown} in slot {slot} on the other node");
    }
    let moved = expected.values().filter(|(_, _, moves)| *moves).count();
    assert_eq!(dbsize(&mut on_target), moved as i64);
    assert_eq!(dbsize(&mut on_source), (expected.len() - moved) as i64);
    assert!(!key_exists(&mut on_target, emptied));
    // INFO multimap on each side counts what that side holds now.
    let imported = assert_exact(&mut on_target, "importing the slots");
    assert_eq!(imported.keys, moved as i64);
    let kept = assert_exact(&mut on_source, "migrating the slots away");
    assert_eq!(kept.keys, (expected.len() - moved) as i64);
}

/// A panic while the migration's snapshot is written must not hand the
/// target a partial key as if whole: the snapshot child exits with an error,
/// the migration fails, and the keys stay, whole, where they were.
#[test]
fn a_panicking_aof_rewrite_fails_the_atomic_slot_migration_and_moves_nothing() {
    if skip_unless(has_atomic_slot_migration(), NO_ATOMIC_SLOT_MIGRATION) {
        return;
    }
    let mut nodes = start_cluster_of(3, || Server::builder().with_fault_injection());
    let (source, target) = (&nodes[0], &nodes[1]);
    let ranges = slots_to_migrate(source);
    let mut con = source.connect();
    let healthy = moving_key_named(&mut con, &ranges, "healthy");
    let poisoned = moving_key_named(&mut con, &ranges, "poisoned");
    fill(&mut con, &healthy, &content_of(7));
    for field in 0..20 {
        insert(&mut con, &poisoned, format!("field-{field}"), &["v"]);
    }
    insert(&mut con, &poisoned, "fault:aof_rewrite", &["v"]);
    let digests = [&healthy, &poisoned].map(|key| digest_value(&mut con, key));

    migrate_slots(source, &ranges, target);
    let migrations = wait_for_slot_migrations(source, slot_migration_ended);
    assert_eq!(migrations[0]["state"], "failed", "{migrations:?}");
    let mut on_target = target.connect();
    wait_until(
        "the target to drop what it imported",
        Duration::from_secs(30),
        || {
            let imports = slot_migrations(&mut on_target);
            !imports.is_empty() && imports.iter().all(slot_migration_ended)
        },
    );

    for (key, digest) in [&healthy, &poisoned].into_iter().zip(&digests) {
        assert_eq!(
            &digest_value(&mut con, key),
            digest,
            "{}",
            key.escape_ascii()
        );
        let slot = key_slot(&mut con, key);
        assert!(in_ranges(slot, &served_slots(source)), "slot {slot} moved");
        let imported = integer(&mut on_target, ("CLUSTER", "COUNTKEYSINSLOT", slot));
        assert_eq!(imported, 0, "{}", key.escape_ascii());
    }
    assert_eq!(dbsize(&mut on_target), 0);
    let dropped = assert_exact(&mut on_target, "dropping a failed import");
    assert_eq!(dropped, Totals::ZERO);
    assert_exact(&mut con, "a failed migration");
    assert!(nodes.iter_mut().all(|node| node.is_alive()));
    let log = nodes[0].log_text();
    assert!(log.contains("aof_rewrite aborted by a bug"), "{log}");
    assert!(log.contains("the child process exits so the server keeps what it had"));
}

/// A key whose slot is among `ranges`.
fn moving_key_named(con: &mut redis::Connection, ranges: &[(i64, i64)], prefix: &str) -> Bytes {
    (0..)
        .map(|index| format!("{prefix}:{index}").into_bytes())
        .find(|name| in_ranges(key_slot(con, name), ranges))
        .expect("a key in the moving slots")
}

// ---------------------------------------------------------------- field expiries

/// Keys of expiring fields a resharding test moves: each has a field that
/// never expires (but every third, which vanishes whole), one expiring in
/// an hour or more, and one expiring at `soon_ms`.
fn write_expiring_keys(
    con: &mut impl redis::ConnectionLike,
    names: &[Bytes],
    soon_ms: i64,
) -> Vec<TimedFields> {
    let far = soon_ms + 3_600_000;
    names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            if index % 3 == 0 {
                insert(con, name, b"only\0", &["v"]);
                pexpireat(con, name, soon_ms, &[b"only\0"]);
            } else {
                insert(con, name, b"keep", &[&b"\xff"[..], b""]);
                insert(con, name, b"far", &["f"]);
                insert(con, name, b"soon", &["s"]);
                pexpireat(con, name, far + index as i64, &["far"]);
                pexpireat(con, name, soon_ms, &["soon"]);
            }
            timed_content(con, name)
        })
        .collect()
}

/// `timed` without the fields expiring at `soon_ms`.
fn after(timed: &TimedFields, soon_ms: i64) -> TimedFields {
    timed
        .iter()
        .filter(|(_, (_, time))| *time != soon_ms)
        .map(|(field, entry)| (field.clone(), entry.clone()))
        .collect()
}

/// Each key holds what it did (its soon fields too, unless their time has
/// come) on the node that now serves its slot; then each node's active
/// expiry removes the soon fields of the keys it holds, by itself.
fn assert_expiries_moved_and_enforced(
    nodes: &[Server],
    names: &[Bytes],
    written: &[TimedFields],
    soon_ms: i64,
) {
    // Each node must come to hold exactly the fields that outlive `soon_ms`:
    // counted from what was written, not from what a read saw, which depends
    // on how late the read came on a busy machine.
    let mut kept_on = vec![0i64; nodes.len()];
    for (node, kept) in nodes.iter().zip(&mut kept_on) {
        let mut on_node = node.connect();
        let served = served_slots(node);
        for (name, expected) in names.iter().zip(written) {
            if !in_ranges(key_slot(&mut on_node, name), &served) {
                continue;
            }
            let got = timed_content(&mut on_node, name);
            let shown = name.escape_ascii();
            assert_eq!(after(&got, soon_ms), after(expected, soon_ms), "{shown}");
            let soon = got.len() - after(&got, soon_ms).len();
            if soon < expected.len() - after(expected, soon_ms).len() {
                assert!(server_time_ms(&mut on_node) >= soon_ms, "{shown}");
            }
            *kept += after(expected, soon_ms).len() as i64;
        }
    }
    for (node, kept) in nodes.iter().zip(kept_on) {
        let mut on_node = node.connect();
        let bound = deadline_after(&mut on_node, soon_ms);
        wait_for(
            &format!("{kept} fields left once active expiry is done"),
            bound,
            || info_number(&mut on_node, "multimap", "multimap_fields"),
            |&fields| fields == kept,
        );
        assert_exact(&mut on_node, "the soon fields expired");
    }
    let mut cluster = cluster_client(nodes);
    for (index, (name, expected)) in names.iter().zip(written).enumerate() {
        let remaining = after(expected, soon_ms);
        assert_eq!(timed_content(&mut cluster, name), remaining, "{index}");
        assert_eq!(key_exists(&mut cluster, name), !remaining.is_empty());
    }
}

#[test]
fn resharding_carries_field_expiries_which_still_expire_on_the_new_node() {
    let nodes = start_cluster(3);
    let mut cluster = cluster_client(&nodes);
    let names: Vec<Bytes> = (0..600)
        .map(|index| format!("exp:{index}\0").into_bytes())
        .collect();
    let soon_ms = server_time_ms(&mut nodes[0].connect()) + 10_000;
    let written = write_expiring_keys(&mut cluster, &names, soon_ms);
    reshard_3000_slots_from_first_to_second(&nodes);
    eprintln!(
        "resharded with {} ms to spare",
        soon_ms - server_time_ms(&mut nodes[0].connect())
    );
    assert_expiries_moved_and_enforced(&nodes, &names, &written, soon_ms);
}

#[test]
fn atomic_slot_migration_carries_field_expiries_which_still_expire_on_the_target() {
    if skip_unless(has_atomic_slot_migration(), NO_ATOMIC_SLOT_MIGRATION) {
        return;
    }
    let nodes = start_cluster(3);
    let (source, target) = (&nodes[0], &nodes[1]);
    let ranges = slots_to_migrate(source);
    let mut con = source.connect();
    let served = served_slots(source);
    let names: Vec<Bytes> = (0..)
        .map(|index| [format!("exp:{index}").as_bytes(), b"\xff"].concat())
        .filter(|name| in_ranges(key_slot(&mut con, name), &served))
        .take(300)
        .collect();
    let soon_ms = server_time_ms(&mut con) + 10_000;
    let mut written = write_expiring_keys(&mut con, &names, soon_ms);
    let moving: Vec<usize> = (0..names.len())
        .filter(|&index| index % 3 != 0 && in_ranges(key_slot(&mut con, &names[index]), &ranges))
        .collect();
    assert!(moving.len() > 10, "{} keys move", moving.len());

    // Expiry changes while the snapshot streams reach the target as writes.
    run(&mut con, &["DEBUG", "SLOTMIGRATION", "PREVENT-PAUSE", "1"]);
    migrate_slots(source, &ranges, target);
    wait_for_slot_migrations(source, |migration| migration["state"] == "waiting-to-pause");
    let (persisted, moved) = (moving[0], moving[1]);
    let persist = per_field(&mut con, "MULTIMAP.PERSIST", &names[persisted], &["far"]);
    assert_eq!(persist, [1]);
    written[persisted].get_mut(&b"far"[..]).unwrap().1 = NO_EXPIRY;
    pexpireat(&mut con, &names[moved], soon_ms, &["far"]);
    written[moved].get_mut(&b"far"[..]).unwrap().1 = soon_ms;
    run(&mut con, &["DEBUG", "SLOTMIGRATION", "PREVENT-PAUSE", "0"]);
    let migrations = wait_for_slot_migrations(source, slot_migration_ended);
    assert_eq!(migrations[0]["state"], "success", "{migrations:?}");
    wait_until_cluster_ok(&nodes);
    let mut on_target = target.connect();
    for &index in &moving {
        assert!(key_exists(&mut on_target, &names[index]), "key {index}");
    }
    eprintln!(
        "migrated with {} ms to spare",
        soon_ms - server_time_ms(&mut con)
    );
    assert_expiries_moved_and_enforced(&nodes, &names, &written, soon_ms);
}
