//! `INFO multimap` and what it must equal: the totals a full walk of the
//! keyspace finds ([`walked`]) and the fields with an expiry among them,
//! checked by [`assert_exact`] once lazy frees are done.

use std::collections::BTreeSet;

use redis::{Connection, Value};

use super::client::{
    field_pairs, info_line, info_number, query, scan_type, select, text, wait_for_lazy_frees, Bytes,
};

/// The numbers `INFO multimap` reports, or what a walk of the keyspace finds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub keys: i64,
    pub fields: i64,
    pub values: i64,
    pub bytes: i64,
}

impl Totals {
    pub const ZERO: Totals = Totals {
        keys: 0,
        fields: 0,
        values: 0,
        bytes: 0,
    };
}

/// What `INFO multimap` says.
pub fn reported(con: &mut Connection) -> Totals {
    let section = text(con, ("INFO", "multimap"));
    let number = |name: &str| -> i64 {
        info_line(&section, name)
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("INFO multimap has no numeric {name}: {section:?}"))
    };
    Totals {
        keys: number("multimap_keys"),
        fields: number("multimap_fields"),
        values: number("multimap_values"),
        bytes: number("multimap_bytes"),
    }
}

/// The databases `INFO keyspace` lists, those that hold keys.
fn databases(con: &mut Connection) -> Vec<i64> {
    let keyspace = text(con, ("INFO", "keyspace"));
    keyspace
        .lines()
        .filter_map(|line| line.strip_prefix("db")?.split(':').next()?.parse().ok())
        .collect()
}

fn number(reply: &Value) -> i64 {
    redis::from_redis_value_ref(reply).unwrap_or_else(|_| panic!("an integer, got {reply:?}"))
}

/// How many bytes a number takes in LEB128.
fn leb128_len(mut number: usize) -> usize {
    let mut len = 1;
    while number >= 0x80 {
        number >>= 7;
        len += 1;
    }
    len
}

/// How many bytes a field name takes stored: its length, then itself.
pub fn stored_name(name: &[u8]) -> usize {
    leb128_len(name.len()) + name.len()
}

/// How many bytes a value takes stored: its length, itself, then the size of
/// those two written back to front.
pub fn stored_value(value: &[u8]) -> usize {
    let body = leb128_len(value.len()) + value.len();
    body + leb128_len(body)
}

/// What a full walk of the keyspace finds: in every database holding keys,
/// each MultiMap key's MULTIMAP.CARD and MULTIMAP.SIZE, which must agree with
/// its GETALL, and the stored size of the field names and values GETALL
/// returns. Leaves database 0 selected.
pub fn walked(con: &mut Connection) -> Totals {
    walk(con).0
}

/// [`walked`]'s totals, and how many of the fields it found have an expiry
/// (a MULTIMAP.PTTL other than -1).
fn walk(con: &mut Connection) -> (Totals, i64) {
    let mut totals = Totals::ZERO;
    let mut with_expiry = 0;
    for db in databases(con) {
        select(con, db);
        // SCAN may return a key twice; the set keeps it once.
        let keys: BTreeSet<Bytes> = scan_type(con, "rmultimap", 100).into_iter().collect();
        if keys.is_empty() {
            continue;
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("MULTIMAP.CARD").arg(key);
            pipe.cmd("MULTIMAP.SIZE").arg(key);
            pipe.cmd("MULTIMAP.GETALL").arg(key);
        }
        let replies: Vec<Value> = pipe.query(con).expect("CARD, SIZE and GETALL of each key");
        for (key, replies) in keys.iter().zip(replies.chunks(3)) {
            let (card, size) = (number(&replies[0]), number(&replies[1]));
            let pairs = field_pairs(&replies[2]).expect("a GETALL reply");
            let values: usize = pairs.iter().map(|(_, values)| values.len()).sum();
            assert_eq!(card, pairs.len() as i64, "CARD against GETALL of {key:?}");
            assert_eq!(size, values as i64, "SIZE against GETALL of {key:?}");
            let bytes: usize = pairs
                .iter()
                .map(|(field, values)| {
                    let values = values.iter().map(|value| stored_value(value));
                    stored_name(field) + values.sum::<usize>()
                })
                .sum();
            totals.keys += 1;
            totals.fields += card;
            totals.values += size;
            totals.bytes += bytes as i64;
            if !pairs.is_empty() {
                let fields: Vec<&Bytes> = pairs.iter().map(|(field, _)| field).collect();
                let pttls: Vec<i64> =
                    query(con, ("MULTIMAP.PTTL", key, "FIELDS", fields.len(), fields));
                with_expiry += pttls.iter().filter(|pttl| **pttl != -1).count() as i64;
            }
        }
    }
    select(con, 0);
    (totals, with_expiry)
}

/// Checks that INFO reports what a walk finds, the fields with an expiry
/// included, once lazy frees are done, and returns it. Leaves database 0
/// selected.
pub fn assert_exact(con: &mut Connection, after: &str) -> Totals {
    // A value being freed on the lazy-free thread still counts until it is gone.
    wait_for_lazy_frees(con);
    let (walked, with_expiry) = walk(con);
    assert_eq!(
        reported(con),
        walked,
        "INFO multimap against a walk, after {after}"
    );
    assert_eq!(
        info_number(con, "multimap", "multimap_fields_with_expiry"),
        with_expiry,
        "INFO multimap's fields with an expiry against a walk, after {after}"
    );
    walked
}
