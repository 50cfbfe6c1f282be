//! Active defragmentation of MultiMap keys: memory fragmented by deleting most
//! fields gets compacted by moving the blocks MultiMap values live in, a big
//! key in many short steps while it changes, and every key reads the same
//! afterwards.
//!
//! Only servers built with Redis's patched jemalloc, which tells which blocks
//! are worth moving, defragment (Redis 7.4 and 8.2 here); the others refuse
//! `activedefrag yes`, and these tests are skipped there by name.

mod common;

use std::collections::BTreeMap;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{
    digest_value, info_number, integer, query, run, seed, skip_unless_active_defrag, wait_for,
    wait_for_lazy_frees, wait_until, Rng, Seed, Server,
};
use redis::Connection;

/// How long defragmentation may take to compact what a test fragmented.
const DEFRAG_TIMEOUT: Duration = Duration::from_secs(60);

/// Redis refreshes the allocator's figures in INFO from its cron every 100 ms;
/// waiting twice that long sees them fresh.
const ALLOCATOR_STATS_PERIOD: Duration = Duration::from_millis(200);

/// Fields in a run of the same density: over the keys, enough blocks to fill
/// several of the allocator's slabs.
const RUN: usize = 250;

/// A server that can defragment, or None once the test is reported skipped.
/// Its log is verbose, which notes each defrag run that starts.
fn defragmenting_server() -> Option<(Server, Connection)> {
    // The highest hz runs the defrag cycle most often, each in a short slice.
    let server = Server::builder()
        .config("hz", "500")
        .config("loglevel", "verbose")
        .start();
    let mut con = server.connect();
    (!skip_unless_active_defrag(&mut con)).then_some((server, con))
}

/// Defragments whenever at least 5% and 100 KB of the allocator's memory is
/// fragmented, with up to a quarter of the CPU.
fn start_defrag(con: &mut Connection) {
    for (name, value) in [
        ("active-defrag-ignore-bytes", "100kb"),
        ("active-defrag-threshold-lower", "5"),
        ("active-defrag-cycle-min", "5"),
        ("active-defrag-cycle-max", "25"),
        ("activedefrag", "yes"),
    ] {
        run(con, &["CONFIG", "SET", name, value]);
    }
}

fn stop_defrag(con: &mut Connection) {
    run(con, &["CONFIG", "SET", "activedefrag", "no"]);
    wait_until("active defragmentation to stop", DEFRAG_TIMEOUT, || {
        info_number(con, "memory", "active_defrag_running") == 0
    });
}

/// What the allocator holds beyond what is allocated: memory lost to
/// fragmentation, as of Redis's last refresh.
fn fragmented_bytes(con: &mut Connection) -> i64 {
    info_number(con, "memory", "allocator_frag_bytes")
}

/// The same, once Redis has refreshed it after what came before.
fn settled_fragmented_bytes(con: &mut Connection) -> i64 {
    wait_for_lazy_frees(con);
    sleep(ALLOCATOR_STATS_PERIOD);
    fragmented_bytes(con)
}

/// Blocks moved by active defragmentation so far.
fn defrag_hits(con: &mut Connection) -> i64 {
    info_number(con, "stats", "active_defrag_hits")
}

/// Steps over keys: one per key a defrag run visits, and one more per step
/// of a big key's defrag.
fn defrag_key_steps(con: &mut Connection) -> i64 {
    info_number(con, "stats", "active_defrag_key_hits")
        + info_number(con, "stats", "active_defrag_key_misses")
}

fn field_name(field: usize) -> String {
    format!("field:{field:06}")
}

/// Sends `count` commands, `line` writing each, in pipelines of a thousand.
fn pipelined(con: &mut Connection, count: usize, mut line: impl FnMut(&mut redis::Pipeline)) {
    let mut pipe = redis::pipe();
    for sent in 1..=count {
        line(&mut pipe);
        if sent % 1000 == 0 || sent == count {
            pipe.exec(con).expect("pipelined commands");
            pipe.clear();
        }
    }
}

/// Deletes most fields of `key` at random: in alternate runs of fields, all
/// but one in 3 or all but one in 30, so that some of the allocator's slabs
/// are left much emptier than others (it moves blocks out of those). Returns
/// how many fields are left.
fn delete_most_fields(con: &mut Connection, key: &str, fields: usize, rng: &mut Rng) -> usize {
    let doomed: Vec<String> = (0..fields)
        .filter(|field| {
            let keep_one_in = if (field / RUN).is_multiple_of(2) {
                3
            } else {
                30
            };
            !rng.chance(keep_one_in)
        })
        .map(field_name)
        .collect();
    for chunk in doomed.chunks(500) {
        assert_eq!(
            integer(con, ("MULTIMAP.DEL", key, chunk)),
            chunk.len() as i64
        );
    }
    fields - doomed.len()
}

/// Waits until active defrag has moved `wanted_hits` blocks more than the
/// `hits` counted before it started and halved the `fragmented` bytes, doing
/// `meanwhile` (for at least ALLOCATOR_STATS_PERIOD, so that the figures are
/// fresh) between looks; returns the hits and fragmented bytes then.
fn wait_for_defrag(
    con: &mut Connection,
    seed: &Seed,
    (hits, wanted_hits): (i64, i64),
    fragmented: i64,
    mut meanwhile: impl FnMut(&mut Connection),
) -> (i64, i64) {
    wait_for(
        &format!(
            "active defrag to move {wanted_hits} blocks and halve {fragmented} fragmented \
             bytes ({seed})"
        ),
        DEFRAG_TIMEOUT,
        || {
            meanwhile(con);
            (defrag_hits(con), fragmented_bytes(con))
        },
        |&(now_hits, now_fragmented)| {
            now_hits - hits >= wanted_hits && now_fragmented * 2 <= fragmented
        },
    )
}

fn digests(con: &mut Connection, keys: &[String]) -> BTreeMap<String, String> {
    keys.iter()
        .map(|key| (key.clone(), digest_value(con, key)))
        .collect()
}

#[test]
fn defrag_moves_the_blocks_of_multimap_keys_and_keeps_every_key_whole() {
    let Some((_server, mut con)) = defragmenting_server() else {
        return;
    };
    let seed = seed();
    let mut rng = seed.rng();
    const FIELDS: usize = 5000;
    let keys: Vec<String> = (0..20).map(|i| format!("map:{i}")).collect();
    // Field by field across the keys, so that their blocks sit side by side
    // in the allocator's slabs; each field one block of about 420 bytes.
    let mut next = 0;
    pipelined(&mut con, FIELDS * keys.len(), |pipe| {
        let (field, key) = (next / keys.len(), &keys[next % keys.len()]);
        let value = format!("{key}:{field}:{}", "x".repeat(400));
        pipe.cmd("MULTIMAP.INSERT")
            .arg(key)
            .arg(field_name(field))
            .arg(value)
            .ignore();
        next += 1;
    });
    let left: BTreeMap<&String, usize> = keys
        .iter()
        .map(|key| (key, delete_most_fields(&mut con, key, FIELDS, &mut rng)))
        .collect();
    let remaining: usize = left.values().sum();
    let before = digests(&mut con, &keys);
    let fragmented = settled_fragmented_bytes(&mut con);
    let hits = defrag_hits(&mut con);

    start_defrag(&mut con);
    // Redis moves a few blocks of its own per key (its name, its object, the
    // module value's wrapper): a hundred or so here. Thousands of hits are
    // the fields' blocks.
    let wanted_hits = (remaining / 4) as i64;
    let (hits_after, fragmented_after) =
        wait_for_defrag(&mut con, &seed, (hits, wanted_hits), fragmented, |_| {
            sleep(ALLOCATOR_STATS_PERIOD)
        });
    stop_defrag(&mut con);
    println!(
        "{remaining} fields left in {} keys: {} blocks moved, fragmented bytes {fragmented} \
         -> {fragmented_after}",
        keys.len(),
        hits_after - hits
    );

    assert_eq!(digests(&mut con, &keys), before, "{seed}");
    for (key, fields) in left {
        assert_eq!(
            integer(&mut con, ("MULTIMAP.CARD", key)),
            fields as i64,
            "{key}"
        );
    }
}

/// A long field given an ADD carries a value set, a block of its own beside
/// the field's; defrag moves both, and ADD answers from the moved sets as
/// before.
#[test]
fn value_sets_are_defragmented_and_add_answers_from_them_as_before() {
    let Some((_server, mut con)) = defragmenting_server() else {
        return;
    };
    let seed = seed();
    let mut rng = seed.rng();
    const FIELDS: usize = 2000;
    const VALUES: usize = 40;
    let keys: Vec<String> = (0..4).map(|i| format!("tags:{i}")).collect();
    // Field by field across the keys, then one ADD each, so that the
    // fields' blocks and then their sets' blocks (64 slots of 8 bytes for
    // 41 values) sit side by side in the allocator's slabs.
    let mut next = 0;
    pipelined(&mut con, FIELDS * keys.len(), |pipe| {
        let (field, key) = (next / keys.len(), &keys[next % keys.len()]);
        let values: Vec<String> = (0..VALUES).map(|v| format!("{field:05}:{v:02}")).collect();
        pipe.cmd("MULTIMAP.INSERT")
            .arg(key)
            .arg(field_name(field))
            .arg(values)
            .ignore();
        next += 1;
    });
    for key in &keys {
        let mut pipe = redis::pipe();
        for field in 0..FIELDS {
            pipe.cmd("MULTIMAP.ADD")
                .arg(key)
                .arg(field_name(field))
                .arg("new");
        }
        let added: Vec<i64> = pipe.query(&mut con).expect("pipelined MULTIMAP.ADD");
        assert!(added.iter().all(|&added| added == 1), "{key}");
    }
    let remaining: usize = keys
        .iter()
        .map(|key| delete_most_fields(&mut con, key, FIELDS, &mut rng))
        .sum();
    let before = digests(&mut con, &keys);
    let fragmented = settled_fragmented_bytes(&mut con);
    let hits = defrag_hits(&mut con);

    start_defrag(&mut con);
    // Without their sets, these fields leave too little to defragment for
    // more than a few dozen moves (seen on Redis 7.4): moves of half as
    // many blocks as fields are the sets'.
    let wanted_hits = (remaining / 2) as i64;
    let hits_after = wait_for(
        &format!("active defrag to move {wanted_hits} blocks ({seed})"),
        DEFRAG_TIMEOUT,
        || {
            sleep(ALLOCATOR_STATS_PERIOD);
            defrag_hits(&mut con)
        },
        |&now| now - hits >= wanted_hits,
    );
    stop_defrag(&mut con);
    println!(
        "{remaining} fields with a value set left: {} blocks moved, fragmented bytes \
         {fragmented} -> {}",
        hits_after - hits,
        settled_fragmented_bytes(&mut con)
    );

    assert_eq!(digests(&mut con, &keys), before, "{seed}");
    for key in &keys {
        let fields: Vec<String> = query(&mut con, ("MULTIMAP.FIELDS", key));
        let mut pipe = redis::pipe();
        for field in &fields {
            let held = format!("{}:{:02}", &field["field:0".len()..], rng.index(VALUES));
            pipe.cmd("MULTIMAP.ADD")
                .arg(key)
                .arg(field)
                .arg("new")
                .arg(held);
            pipe.cmd("MULTIMAP.ADD").arg(key).arg(field).arg("newer");
        }
        let added: Vec<i64> = pipe.query(&mut con).expect("pipelined MULTIMAP.ADD");
        let expected: Vec<i64> = fields.iter().flat_map(|_| [0, 1]).collect();
        assert_eq!(added, expected, "{key} ({seed})");
    }
}

/// Deletes a random field of both keys, or adds a new one to both; returns
/// the change in their number of fields.
fn change_both(con: &mut Connection, keys: [&str; 2], rng: &mut Rng, added: &mut usize) -> i64 {
    if rng.chance(4) {
        *added += 1;
        let field = format!("added:{added}");
        for key in keys {
            assert_eq!(insert_values(con, key, &field, 3), 3);
        }
        1
    } else {
        let field = field_name(rng.index(BIG_FIELDS));
        let gone = integer(con, ("MULTIMAP.DEL", keys[0], &field));
        assert_eq!(integer(con, ("MULTIMAP.DEL", keys[1], &field)), gone);
        -gone
    }
}

/// Fields of the big key, of VALUES_PER_FIELD values each: a million values.
const BIG_FIELDS: usize = 100_000;
const VALUES_PER_FIELD: usize = 10;

/// MULTIMAP.INSERT of `count` 8-byte values into `field`.
fn insert_values(con: &mut Connection, key: &str, field: &str, count: usize) -> i64 {
    let values: Vec<String> = (0..count).map(|value| format!("{value:08}")).collect();
    integer(con, ("MULTIMAP.INSERT", key, field, values))
}

#[test]
fn a_big_key_is_defragmented_in_short_steps_while_it_changes() {
    let Some((server, mut con)) = defragmenting_server() else {
        return;
    };
    let seed = seed();
    let mut rng = seed.rng();
    // Scratch fields of the same size sit between the big key's fields, one
    // per field in alternate runs and four in the others; deleting them
    // leaves the big key's blocks over slabs half used or a fifth used.
    let scratch_per_field = |field: usize| {
        if (field / RUN).is_multiple_of(2) {
            1
        } else {
            4
        }
    };
    let commands = (0..BIG_FIELDS)
        .map(|field| 1 + scratch_per_field(field))
        .sum();
    let (mut field, mut scratch) = (0, 0);
    pipelined(&mut con, commands, |pipe| {
        let (key, name) = match scratch {
            0 => ("big", field_name(field)),
            _ => ("scratch", format!("{}:{scratch}", field_name(field))),
        };
        let cmd = pipe.cmd("MULTIMAP.INSERT").arg(key).arg(name);
        for value in 0..VALUES_PER_FIELD {
            cmd.arg(format!("{:08}", field * VALUES_PER_FIELD + value));
        }
        cmd.ignore();
        if scratch == scratch_per_field(field) {
            (field, scratch) = (field + 1, 0);
        } else {
            scratch += 1;
        }
    });
    assert_eq!(
        integer(&mut con, ("MULTIMAP.SIZE", "big")),
        (BIG_FIELDS * VALUES_PER_FIELD) as i64
    );
    // A twin that every change below also goes to: equal digests at the end
    // mean defragmenting lost nothing while the key changed under it. Made
    // now, it takes slabs of its own.
    assert_eq!(integer(&mut con, ("COPY", "big", "twin")), 1);
    assert_eq!(integer(&mut con, ("DEL", "scratch")), 1);
    let fragmented = settled_fragmented_bytes(&mut con);
    let hits = defrag_hits(&mut con);
    let key_steps = defrag_key_steps(&mut con);

    start_defrag(&mut con);
    let mut fields = BIG_FIELDS as i64;
    let mut added = 0;
    let wanted_hits = (BIG_FIELDS / 8) as i64;
    let (hits_after, fragmented_after) =
        wait_for_defrag(&mut con, &seed, (hits, wanted_hits), fragmented, |con| {
            // Fields come and go between the defrag's steps, behind its
            // position and ahead of it.
            let until = Instant::now() + ALLOCATOR_STATS_PERIOD;
            while Instant::now() < until {
                fields += change_both(con, ["big", "twin"], &mut rng, &mut added);
            }
        });
    stop_defrag(&mut con);
    let steps = defrag_key_steps(&mut con) - key_steps;
    let runs = server.log_text().matches("Starting active defrag").count() as i64;
    println!(
        "big key and its twin: {} blocks moved, fragmented bytes {fragmented} -> \
         {fragmented_after}, {steps} key steps in {runs} runs, {added} fields added",
        hits_after - hits,
    );

    // Done in one call per run, the two keys would take two steps each per
    // run: one as the run visits them, one for their whole defrag.
    assert!(
        steps > 2 * 2 * runs,
        "{steps} steps over the two big keys in {runs} defrag runs"
    );
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", "big")), fields);
    assert_eq!(
        digest_value(&mut con, "big"),
        digest_value(&mut con, "twin"),
        "{seed}"
    );
}
