//! `INFO multimap`: running totals over every MultiMap in the keyspace,
//! exact at all times. Each value's share is added when it enters the
//! keyspace and taken away when it is freed, and a write takes its value's
//! share away before the handler runs and adds it back after (see
//! `ffi::TypeMethods::counted`), so no command ever walks the keyspace and a
//! write pays a few plain loads and stores.
#![forbid(unsafe_code)]

use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::ffi::{waiting_clients, InfoFields, InfoSection};

/// Declares the counters, in the order INFO lists them, each with the name
/// of its line (`multimap_<name>`): adding a counter is adding a line.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $counter:ident => $name:literal,)*) => {
        /// One line of `INFO multimap`.
        #[derive(Clone, Copy)]
        pub enum Counter {
            $($(#[doc = $doc])* $counter,)*
        }

        const NAMES: &[&CStr] = &[$($name),*];
    };
}

counters! {
    /// MultiMap keys, over every database.
    Keys => c"keys",
    /// Fields, over every key.
    Fields => c"fields",
    /// Values, over every field.
    Values => c"values",
    /// The data as the keys store it: every field name and value with the
    /// length prefixes it is stored with (a name under 128 bytes takes one
    /// byte more, a value under 127 bytes two more), which is also what RDB
    /// saves of them. Exact on every allocator; what holding it costs
    /// (allocator rounding, the field tables) is MEMORY USAGE's business.
    Bytes => c"bytes",
    /// Fields that carry an expiry, expired ones not removed yet included.
    FieldsWithExpiry => c"fields_with_expiry",
    /// Fields removed because they expired, since the server started: by
    /// active expiry, by a write that met them, or by an expiry time set in
    /// the past.
    ExpiredFields => c"expired_fields",
}

const COUNTERS: usize = NAMES.len();

/// One running sum per counter, wrapping: only a difference of two banks is
/// ever reported.
struct Bank([AtomicU64; COUNTERS]);

impl Bank {
    const fn new() -> Bank {
        Bank([const { AtomicU64::new(0) }; COUNTERS])
    }

    fn get(&self, counter: usize) -> u64 {
        self.0[counter].load(Relaxed)
    }
}

/// Two banks because two kinds of thread change the totals. Everything but
/// freeing happens under the server's lock, one thread at a time, so
/// `LOCKED` changes by a plain load and store: an atomic read-modify-write
/// would cost every write command a locked instruction per counter.
static LOCKED: Bank = Bank::new();
/// Redis frees big values on a background thread, at the same time as
/// commands run, so frees go to a bank of their own, by atomic adds. A
/// total is `LOCKED - FREED`.
static FREED: Bank = Bank::new();

/// How much one value holds of each counter.
pub type Share<const N: usize> = [(Counter, usize); N];

/// Adds a share to the totals. Only under the server's lock.
pub fn add_locked<const N: usize>(share: &Share<N>) {
    for &(counter, amount) in share {
        let sum = &LOCKED.0[counter as usize];
        sum.store(sum.load(Relaxed).wrapping_add(amount as u64), Relaxed);
    }
}

/// Adds `amount` to one counter. Only under the server's lock.
pub fn count(counter: Counter, amount: usize) {
    add_locked(&[(counter, amount)]);
}

/// Takes a share away from the totals. Only under the server's lock.
pub fn subtract_locked<const N: usize>(share: &Share<N>) {
    for &(counter, amount) in share {
        let sum = &LOCKED.0[counter as usize];
        sum.store(sum.load(Relaxed).wrapping_sub(amount as u64), Relaxed);
    }
}

/// Takes the share of a value being freed away from the totals, from any thread.
pub fn subtract_freed<const N: usize>(share: &Share<N>) {
    for &(counter, amount) in share {
        FREED.0[counter as usize].fetch_add(amount as u64, Relaxed);
    }
}

/// A counter's total. Signed, so that an accounting bug would show as a
/// negative number rather than a huge one.
fn total(counter: usize) -> i64 {
    LOCKED.get(counter).wrapping_sub(FREED.get(counter)) as i64
}

/// The `INFO multimap` section: every counter, in order.
pub struct Totals;

impl InfoSection for Totals {
    fn write(fields: &mut InfoFields<'_>) {
        for (counter, name) in NAMES.iter().enumerate() {
            fields.add(name, total(counter));
        }
        // Clients waiting in MULTIMAP.BPOP: the blocking machinery counts them.
        let waiting = i64::try_from(waiting_clients()).unwrap_or(i64::MAX);
        fields.add(c"blocked_clients", waiting);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_freed_on_another_thread_leaves_the_totals_as_they_were() {
        let before: Vec<i64> = (0..COUNTERS).map(total).collect();
        let share = [(Counter::Keys, 1), (Counter::Bytes, 1 << 40)];
        add_locked(&share);
        let (keys, bytes) = (Counter::Keys as usize, Counter::Bytes as usize);
        assert_eq!(total(keys), before[keys] + 1);
        assert_eq!(total(bytes), before[bytes] + (1 << 40));
        subtract_locked(&share);
        add_locked(&share);
        std::thread::spawn(move || subtract_freed(&share))
            .join()
            .expect("the freeing thread");
        let after: Vec<i64> = (0..COUNTERS).map(total).collect();
        assert_eq!(after, before);
    }

    #[test]
    fn every_counter_has_a_line_name_info_accepts() {
        for name in NAMES {
            let name = name.to_bytes();
            assert!(!name.is_empty());
            assert!(!name.iter().any(|byte| b":\r\n".contains(byte)));
        }
    }
}
