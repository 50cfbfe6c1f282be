//! Active expiry: removing expired fields nobody touches, on masters, in
//! bounded slices of the main thread.
//!
//! Keys are found without scanning the keyspace, as Redis 7.4 finds hashes
//! with expiring fields: a schedule per database orders the keys that have
//! field expiries by when each is next due. An entry is a promise that the
//! key needs nothing before its time; it may be early (the field was
//! persisted, the key deleted or renamed) and is then checked and dropped or
//! moved on when its time comes, so the schedule never has to hear of every
//! way a key can change. What it must hear of is every key that arrives
//! with expiries: set by our commands, or loaded, restored, renamed, moved,
//! copied or swapped in (see `on_key_event` and `on_db_event`).
#![forbid(unsafe_code)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::datatype::MULTIMAP;
use crate::ffi::{
    now_ms, peek_key, with_key_named, Arg, Context, DbEvent, KeyEvent, OwnedArg, Removals,
};
use crate::info::{self, Counter};

/// How long one slice of active expiry may hold the main thread...
const SLICE: Duration = Duration::from_millis(1);
/// ...and how soon the next slice runs when one ran out of time with work
/// left, which leaves the server most of its time for clients.
const BUSY_PERIOD_MS: u64 = 1;
/// The pause between slices while nothing is due: how late, at most, an
/// idle server removes a field.
pub const IDLE_PERIOD_MS: u64 = 100;
/// A replica waits for its master to remove expired fields; it looks at
/// such a key again this much later, to drop it from the schedule once it
/// has been dealt with.
const REPLICA_RECHECK_MS: u64 = 1000;
/// The most fields a slice rehashes to shrink a table its removals left
/// mostly empty: a key losing a million fields at once would otherwise
/// rehash a hundred thousand in one go (about 5 ms).
const SHRINK_WITHIN_A_SLICE: usize = 8192;
/// Fields removed between two looks at the clock.
const FIELDS_PER_CLOCK_CHECK: usize = 32;

/// The command a removal of an expired field is propagated as, and the
/// keyspace event it fires.
pub const REMOVAL_COMMAND: &std::ffi::CStr = c"MULTIMAP.DEL";
pub const EXPIRED_EVENT: &std::ffi::CStr = c"multimap.expired";

#[derive(Default)]
struct Schedule {
    dbs: HashMap<i32, DbSchedule>,
}

#[derive(Default)]
struct DbSchedule {
    due: BTreeSet<(u64, Vec<u8>)>,
    at: HashMap<Vec<u8>, u64>,
}

static SCHEDULE: Mutex<Option<Schedule>> = Mutex::new(None);

/// Whether any field of any key has had an expiry since the server started:
/// until then, other commands' keyspace events need no look at their key.
static EXPIRIES_SEEN: AtomicBool = AtomicBool::new(false);
/// Set where the server cannot tell us of keys that RENAME and MOVE bring
/// (see `ffi::subscribe_key_events`): writes then put their key on the
/// schedule themselves.
static FOLLOW_KEYS_THROUGH_WRITES: AtomicBool = AtomicBool::new(false);

/// Set by the RDB loader when the value it just loaded has expiries, for
/// the `loaded` event that follows to schedule its key.
static LOADED_WITH_EXPIRIES: AtomicBool = AtomicBool::new(false);

fn with_schedule<R>(work: impl FnOnce(&mut Schedule) -> R) -> R {
    let mut schedule = SCHEDULE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    work(schedule.get_or_insert_with(Schedule::default))
}

/// `key` of database `db` has a field that expires at `time`: it will be
/// looked at then at the latest.
pub fn schedule(db: i32, key: &[u8], time: u64) {
    EXPIRIES_SEEN.store(true, Relaxed);
    with_schedule(|schedule| {
        let db = schedule.dbs.entry(db).or_default();
        match db.at.get_mut(key) {
            Some(at) if *at <= time => {}
            Some(at) => {
                db.due.remove(&(*at, key.to_vec()));
                *at = time;
                db.due.insert((time, key.to_vec()));
            }
            None => {
                db.at.insert(key.to_vec(), time);
                db.due.insert((time, key.to_vec()));
            }
        }
    });
}

/// Writes to keys with field expiries schedule their key (see
/// `FOLLOW_KEYS_THROUGH_WRITES`).
pub fn follow_keys_through_writes() {
    FOLLOW_KEYS_THROUGH_WRITES.store(true, Relaxed);
}

/// Whether writes must schedule the keys with field expiries they meet.
pub fn follows_keys_through_writes() -> bool {
    FOLLOW_KEYS_THROUGH_WRITES.load(Relaxed)
}

/// The RDB loader loaded a value with field expiries.
pub fn loaded_with_expiries() {
    EXPIRIES_SEEN.store(true, Relaxed);
    LOADED_WITH_EXPIRIES.store(true, Relaxed);
}

/// Takes the key due first, if it is due at `now`.
fn take_due(now: u64) -> Option<(i32, Vec<u8>)> {
    with_schedule(|schedule| {
        let (db, first) = schedule
            .dbs
            .iter_mut()
            .filter_map(|(db, dbs)| dbs.due.first().map(|(time, _)| (*db, *time)))
            .min_by_key(|&(_, time)| time)?;
        if first > now {
            return None;
        }
        let dbs = schedule.dbs.get_mut(&db)?;
        let (_, key) = dbs.due.pop_first()?;
        dbs.at.remove(&key);
        Some((db, key))
    })
}

/// One slice of active expiry; returns when to run the next.
pub fn tick(ctx: &Context) -> u64 {
    let started = Instant::now();
    let now = now_ms();
    let master = ctx.is_master();
    while let Some((db, key)) = take_due(now) {
        if !ctx.select_db(db) {
            continue;
        }
        let name = OwnedArg::new(&key);
        let next = if master {
            remove_expired(ctx, &name, now, started)
        } else {
            // A replica's master removes the fields; until then the key is
            // looked at again now and then, and dropped once it is done.
            next_expiry(ctx, &name).map(|time| time.max(now + REPLICA_RECHECK_MS))
        };
        if let Some(time) = next {
            schedule(db, &key, time);
        }
        if started.elapsed() >= SLICE {
            return BUSY_PERIOD_MS;
        }
    }
    IDLE_PERIOD_MS
}

/// Removes the fields of `name` that have expired at `now`, until the
/// slice that began at `started` is over; returns when the key is due next.
fn remove_expired(ctx: &Context, name: &Arg, now: u64, started: Instant) -> Option<u64> {
    let worked = with_key_named(ctx, name, |key| {
        let Ok(Some(map)) = key.value_mut(&MULTIMAP) else {
            return (Vec::new(), None);
        };
        let mut removed = Vec::new();
        while let Some(field) = map.remove_first_expired_in_place(now) {
            removed.push(field);
            if removed.len() % FIELDS_PER_CLOCK_CHECK == 0 && started.elapsed() >= SLICE {
                break;
            }
        }
        map.shrink_table_if_within(SHRINK_WITHIN_A_SLICE);
        (removed, map.earliest_expiry())
    });
    let Ok(((removed, next), deleted)) = worked else {
        return None;
    };
    if !removed.is_empty() {
        info::count(Counter::ExpiredFields, removed.len());
        let removals = Removals {
            command: REMOVAL_COMMAND,
            event: EXPIRED_EVENT,
            parts: &removed,
        };
        ctx.announce_removals(name, removals, deleted);
    }
    next
}

/// When the key `name` next has a field to expire.
fn next_expiry(ctx: &Context, name: &Arg) -> Option<u64> {
    let mut next = None;
    peek_key(ctx, name, &MULTIMAP, |map| {
        next = map.earliest_expiry();
        true
    });
    next
}

/// A key other commands placed: scheduled if it holds field expiries.
pub fn on_key_event(ctx: &Context, event: KeyEvent, key: &Arg) {
    let loaded_with_expiries = LOADED_WITH_EXPIRIES.swap(false, Relaxed);
    if !EXPIRIES_SEEN.load(Relaxed) || (event == KeyEvent::Loaded && !loaded_with_expiries) {
        return;
    }
    // The loader names the key with a string on its stack, which opening the
    // key would retain (the server aborts on that): open it by a copy.
    let name = OwnedArg::new(key.as_bytes());
    if let Some(time) = next_expiry(ctx, &name) {
        schedule(ctx.selected_db(), key.as_bytes(), time);
    }
}

pub fn on_db_event(event: DbEvent) {
    with_schedule(|schedule| match event {
        DbEvent::Flushed(None) => schedule.dbs.clear(),
        DbEvent::Flushed(Some(db)) => {
            schedule.dbs.remove(&db);
        }
        DbEvent::Swapped(first, second) => {
            let a = schedule.dbs.remove(&first);
            let b = schedule.dbs.remove(&second);
            if let Some(a) = a {
                schedule.dbs.insert(second, a);
            }
            if let Some(b) = b {
                schedule.dbs.insert(first, b);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schedule is process-wide; one test owns it.
    #[test]
    fn keys_come_due_in_time_order_across_databases_and_move_with_swaps() {
        schedule(0, b"a", 30);
        schedule(1, b"b", 10);
        schedule(0, b"a", 50);
        schedule(0, b"c", 20);
        assert_eq!(take_due(5), None);
        assert_eq!(take_due(100), Some((1, b"b".to_vec())));
        on_db_event(DbEvent::Swapped(0, 1));
        assert_eq!(take_due(100), Some((1, b"c".to_vec())));
        schedule(1, b"a", 5);
        assert_eq!(take_due(100), Some((1, b"a".to_vec())));
        assert_eq!(take_due(100), None, "one entry per key");
        schedule(2, b"d", 1);
        on_db_event(DbEvent::Flushed(None));
        assert_eq!(take_due(100), None);
    }
}
