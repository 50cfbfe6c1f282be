//! Fields that expire: setting and clearing their times, and reading the map
//! as it stands at a given time, when a field whose time has come is gone
//! for every read whether or not it has been removed yet.
//!
//! Times are Unix milliseconds. A time of 0 for "now" sees every field as
//! live: how a replica applies its master's stream, which removes fields
//! itself when they expire.

#![forbid(unsafe_code)]

use super::expiry::Expiries;
use super::{InvalidEncoding, MultiMap, Values};

/// The latest expiry time a field may have, in Unix milliseconds: what Redis
/// allows for hash fields (2^46 - 1, about the year 4200).
pub const MAX_EXPIRY_MS: u64 = (1 << 46) - 1;

/// A field's expiry as a read at some time sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldExpiry {
    /// No such field, or it has expired.
    Missing,
    /// The field never expires.
    Never,
    At(u64),
}

/// What `MultiMap::change_expiry` is to do with a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChange {
    Keep,
    Set(u64),
    /// Remove the field with its values.
    RemoveField,
}

/// What `MultiMap::change_expiry` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChanged {
    NoSuchField,
    /// The field had expired: it is removed.
    RemovedExpired,
    Kept,
    Set,
    RemovedField,
}

/// The map as it stands at `now`: fields expired by then are left out of
/// every answer, counts included.
#[derive(Clone, Copy)]
pub struct View<'a> {
    map: &'a MultiMap,
    now: u64,
}

impl MultiMap {
    /// The map as reads at `now` see it (0: every field is live).
    #[inline]
    pub fn view(&self, now: u64) -> View<'_> {
        View { map: self, now }
    }

    /// Whether any field has an expiry.
    #[inline]
    pub fn has_expiries(&self) -> bool {
        self.expiries().is_some()
    }

    /// Fields with an expiry, expired ones not removed yet included.
    pub fn expiring_field_count(&self) -> usize {
        self.expiries().map_or(0, |expiries| expiries.len())
    }

    /// The earliest expiry of any field.
    pub fn earliest_expiry(&self) -> Option<u64> {
        self.expiries()
            .and_then(|expiries| expiries.earliest())
            .map(|(time, _)| time)
    }

    /// Each field's expiry, in the order `iter` and `records` list fields (0
    /// for none); `None` when no field has one.
    pub fn expiry_times(&self) -> Option<&[u64]> {
        self.expiries().map(Expiries::times)
    }

    /// `field` expires at `time` (not 0) from now on; false if there is no
    /// such field.
    pub fn set_expiry(&mut self, field: &[u8], time: u64) -> bool {
        match self.find(field, self.hash(field)) {
            Some(i) => {
                self.set_expiry_of(i, time);
                true
            }
            None => false,
        }
    }

    fn set_expiry_of(&mut self, i: usize, time: u64) {
        debug_assert!(time != 0, "time 0 means no expiry");
        let len = self.entries[i].len();
        let fields = self.entries.len();
        self.sides
            .get_or_insert_with(Box::default)
            .expiries
            .get_or_insert_with(|| Expiries::new(fields))
            .set(i, time, len);
    }

    /// `field` no longer expires; true if it had an expiry. Free on a map
    /// without expiries.
    pub fn persist(&mut self, field: &[u8]) -> bool {
        if self.expiries().is_none() {
            return false;
        }
        let Some(i) = self.find(field, self.hash(field)) else {
            return false;
        };
        self.clear_expiry(i)
    }

    /// Entry `i` no longer expires; true if it had an expiry.
    pub(super) fn clear_expiry(&mut self, i: usize) -> bool {
        let Some(sides) = &mut self.sides else {
            return false;
        };
        let Some(expiries) = &mut sides.expiries else {
            return false;
        };
        let had = expiries.clear(i);
        if expiries.is_empty() {
            sides.expiries = None;
            self.drop_empty_sides();
        }
        had
    }

    /// Changes `field`'s expiry as `decide` says, given the expiry it has
    /// (`None`: never), in one lookup. A field expired at `now` is removed
    /// first and `decide` not asked.
    pub fn change_expiry(
        &mut self,
        field: &[u8],
        now: u64,
        decide: impl FnOnce(Option<u64>) -> ExpiryChange,
    ) -> ExpiryChanged {
        let Some(i) = self.find(field, self.hash(field)) else {
            return ExpiryChanged::NoSuchField;
        };
        let time = self.expiries().map_or(0, |expiries| expiries.time(i));
        if time != 0 && now != 0 && time <= now {
            self.remove_entry(i);
            return ExpiryChanged::RemovedExpired;
        }
        match decide((time != 0).then_some(time)) {
            ExpiryChange::Keep => ExpiryChanged::Kept,
            ExpiryChange::Set(time) => {
                self.set_expiry_of(i, time);
                ExpiryChanged::Set
            }
            ExpiryChange::RemoveField => {
                self.remove_entry(i);
                ExpiryChanged::RemovedField
            }
        }
    }

    /// Removes `field` if it has expired at `now`; true if it did.
    pub fn remove_if_expired(&mut self, field: &[u8], now: u64) -> bool {
        let Some(i) = self.expired_entry(field, now) else {
            return false;
        };
        self.remove_entry(i);
        true
    }

    /// Whether `field` is held but has expired at `now`.
    pub fn has_expired(&self, field: &[u8], now: u64) -> bool {
        self.expired_entry(field, now).is_some()
    }

    /// The entry of `field`, if it has expired at `now`.
    fn expired_entry(&self, field: &[u8], now: u64) -> Option<usize> {
        let expiries = self.expiries()?;
        self.find(field, self.hash(field))
            .filter(|&i| expiries.has_expired(i, now))
    }

    /// Removes the field that expired first, if it has expired at `now`,
    /// and returns its name.
    pub fn remove_first_expired(&mut self, now: u64) -> Option<Vec<u8>> {
        let name = self.remove_first_expired_in_place(now)?;
        self.shrink_if_sparse();
        Some(name)
    }

    /// `remove_first_expired`, leaving the table its size however few fields
    /// are left: shrinking rehashes every field left at once, which
    /// `shrink_table_if_within` does when that is cheap enough.
    pub fn remove_first_expired_in_place(&mut self, now: u64) -> Option<Vec<u8>> {
        let (time, i) = self.expiries()?.earliest()?;
        if now == 0 || time > now {
            return None;
        }
        let name = self.entries[i].field().to_vec();
        self.unlink_entry(i);
        Some(name)
    }

    /// Shrinks a table that `remove_first_expired_in_place` left mostly
    /// empty, if at most `max_fields` fields are left to rehash. A table left
    /// larger shrinks at a later removal.
    pub fn shrink_table_if_within(&mut self, max_fields: usize) {
        if self.entries.len() <= max_fields {
            self.shrink_if_sparse();
        }
    }

    /// While loading: the field at `position` in `records` order expires at
    /// `time`. Refuses a position past the fields, one given a time before,
    /// and a time of 0 or past `MAX_EXPIRY_MS`.
    pub fn load_expiry(&mut self, position: u64, time: u64) -> Result<(), InvalidEncoding> {
        let i = usize::try_from(position)
            .ok()
            .filter(|&i| i < self.entries.len())
            .ok_or(InvalidEncoding)?;
        let already = self
            .expiries()
            .is_some_and(|expiries| expiries.time(i) != 0);
        if time == 0 || time > MAX_EXPIRY_MS || already {
            return Err(InvalidEncoding);
        }
        self.set_expiry_of(i, time);
        Ok(())
    }

    /// After loading: drops the fields expired at `now`, unless that would
    /// leave no field (a loaded key cannot be empty): then the one that
    /// expires last stays, for expiry to remove with the key. Returns how
    /// many were dropped.
    pub fn drop_expired(&mut self, now: u64) -> usize {
        let mut dropped = 0;
        while self.entries.len() > 1 && self.remove_first_expired(now).is_some() {
            dropped += 1;
        }
        dropped
    }
}

impl<'a> View<'a> {
    /// The whole map, expired fields included.
    pub fn map(&self) -> &'a MultiMap {
        self.map
    }

    /// The time this view is at.
    pub fn now(&self) -> u64 {
        self.now
    }

    #[inline]
    fn live(&self, i: usize) -> bool {
        self.map
            .expiries()
            .is_none_or(|expiries| !expiries.has_expired(i, self.now))
    }

    #[inline]
    fn find(&self, field: &[u8]) -> Option<usize> {
        self.map
            .find(field, self.map.hash(field))
            .filter(|&i| self.live(i))
    }

    #[inline]
    pub fn get(&self, field: &[u8]) -> Option<Values<'a>> {
        self.find(field).map(|i| self.map.entries[i].values())
    }

    /// How many values `field` holds, 0 if it is missing: read from the
    /// entry alone, without finding where its values start.
    #[inline]
    pub fn len_of(&self, field: &[u8]) -> usize {
        self.find(field).map_or(0, |i| self.map.entries[i].len())
    }

    #[inline]
    pub fn contains_field(&self, field: &[u8]) -> bool {
        self.find(field).is_some()
    }

    pub fn expiry(&self, field: &[u8]) -> FieldExpiry {
        let Some(i) = self.find(field) else {
            return FieldExpiry::Missing;
        };
        match self.map.expiries().map_or(0, |e| e.time(i)) {
            0 => FieldExpiry::Never,
            time => FieldExpiry::At(time),
        }
    }

    fn expired(&self) -> (usize, usize) {
        self.map
            .expiries()
            .map_or((0, 0), |expiries| expiries.expired(self.now))
    }

    /// Live fields, O(1) without expired fields.
    pub fn field_count(&self) -> usize {
        self.map.field_count() - self.expired().0
    }

    /// Values in live fields.
    pub fn value_count(&self) -> usize {
        self.map.value_count() - self.expired().1
    }

    pub fn is_empty(&self) -> bool {
        self.field_count() == 0
    }

    /// Every live field once, as `MultiMap::iter` lists them.
    pub fn iter(&self) -> LiveFields<'a> {
        LiveFields {
            view: *self,
            next: 0,
            remaining: self.field_count(),
        }
    }

    /// `MultiMap::scan`, leaving expired fields out.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'a [u8], Values<'a>),
    ) -> u64 {
        let map = self.map;
        map.scan_entries(cursor, count, |i| {
            if self.live(i) {
                let entry = &map.entries[i];
                visit(entry.field(), entry.values());
            }
        })
    }
}

/// The live fields of a view, with their values; knows how many are left.
pub struct LiveFields<'a> {
    view: View<'a>,
    next: usize,
    remaining: usize,
}

impl<'a> Iterator for LiveFields<'a> {
    type Item = (&'a [u8], Values<'a>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let entries = &self.view.map.entries;
        while !self.view.live(self.next) {
            self.next += 1;
        }
        let entry = &entries[self.next];
        self.next += 1;
        self.remaining -= 1;
        Some((entry.field(), entry.values()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for LiveFields<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multimap::test_support::{check_invariants, collect, vecs, Rng};
    use std::collections::HashMap;

    fn map_of(fields: usize, values_each: usize) -> MultiMap {
        let mut map = MultiMap::new();
        for f in 0..fields {
            let values: Vec<Vec<u8>> = (0..values_each).map(|v| vec![v as u8]).collect();
            map.insert(format!("f{f}").as_bytes(), values.iter().map(Vec::as_slice));
        }
        map
    }

    #[test]
    fn a_map_without_expiries_holds_no_expiry_table() {
        let mut map = map_of(10, 2);
        assert!(map.expiry_times().is_none());
        assert!(map.set_expiry(b"f3", 100));
        assert_eq!(map.expiring_field_count(), 1);
        assert!(map.persist(b"f3"));
        assert!(
            map.expiry_times().is_none(),
            "the last expiry frees the table"
        );
        assert!(!map.persist(b"f3"));
        assert!(!map.set_expiry(b"nope", 5));
    }

    #[test]
    fn expired_fields_are_gone_from_every_read_before_they_are_removed() {
        let mut map = map_of(5, 3);
        map.set_expiry(b"f1", 100);
        map.set_expiry(b"f2", 200);
        map.insert(b"f2", [&b"more"[..]]);
        let at = |now| map.view(now);
        assert_eq!((at(99).field_count(), at(99).value_count()), (5, 16));
        assert_eq!((at(100).field_count(), at(100).value_count()), (4, 13));
        assert_eq!((at(200).field_count(), at(200).value_count()), (3, 9));
        assert_eq!(at(0).field_count(), 5, "time 0 sees every field");
        assert!(at(100).get(b"f1").is_none());
        assert_eq!(at(100).expiry(b"f1"), FieldExpiry::Missing);
        assert_eq!(at(100).expiry(b"f2"), FieldExpiry::At(200));
        assert_eq!(at(100).expiry(b"f0"), FieldExpiry::Never);
        let live: Vec<Vec<u8>> = at(150).iter().map(|(f, _)| f.to_vec()).collect();
        assert_eq!(live.len(), 4);
        assert!(!live.contains(&b"f1".to_vec()));
        assert_eq!(at(150).iter().len(), 4);
        let mut scanned = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = at(250).scan(cursor, 2, |f, _| scanned.push(f.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        scanned.sort();
        assert_eq!(scanned, vecs(&[b"f0", b"f3", b"f4"]));
    }

    #[test]
    fn writes_keep_an_expiry_and_removing_the_field_drops_it() {
        let mut map = map_of(3, 2);
        map.set_expiry(b"f0", 50);
        map.prepend(b"f0", [&b"a"[..]]);
        map.pop(b"f0", crate::multimap::End::Right, 1);
        map.remove_values(b"f0", &[b"a"]);
        assert_eq!(map.view(60).value_count(), 4);
        assert_eq!(map.view(40).expiry(b"f0"), FieldExpiry::At(50));
        assert!(map.remove_field(b"f0"));
        assert_eq!(map.expiring_field_count(), 0);
        map.insert(b"f0", [&b"new"[..]]);
        assert_eq!(map.view(60).expiry(b"f0"), FieldExpiry::Never);
    }

    #[test]
    fn change_expiry_asks_about_live_fields_only() {
        let mut map = map_of(3, 1);
        map.set_expiry(b"f0", 10);
        let asked = |map: &mut MultiMap, field: &[u8], now, change| {
            let mut seen = None;
            let done = map.change_expiry(field, now, |current| {
                seen = Some(current);
                change
            });
            (done, seen)
        };
        let keep = ExpiryChange::Keep;
        assert_eq!(
            asked(&mut map, b"nope", 5, keep),
            (ExpiryChanged::NoSuchField, None)
        );
        assert_eq!(
            asked(&mut map, b"f0", 5, keep),
            (ExpiryChanged::Kept, Some(Some(10)))
        );
        assert_eq!(
            asked(&mut map, b"f0", 0, keep),
            (ExpiryChanged::Kept, Some(Some(10)))
        );
        let set = ExpiryChange::Set(20);
        assert_eq!(
            asked(&mut map, b"f1", 5, set),
            (ExpiryChanged::Set, Some(None))
        );
        assert_eq!(map.view(5).expiry(b"f1"), FieldExpiry::At(20));
        let gone = ExpiryChange::RemoveField;
        assert_eq!(
            asked(&mut map, b"f2", 5, gone),
            (ExpiryChanged::RemovedField, Some(None))
        );
        assert_eq!(
            asked(&mut map, b"f0", 10, set),
            (ExpiryChanged::RemovedExpired, None)
        );
        assert_eq!(map.field_count(), 1);
        check_invariants(&map);
    }

    #[test]
    fn remove_first_expired_takes_fields_in_time_order_until_none_is_due() {
        let mut map = map_of(4, 1);
        for (field, time) in [(&b"f2"[..], 30), (b"f0", 10), (b"f3", 20)] {
            map.set_expiry(field, time);
        }
        assert_eq!(map.remove_first_expired(0), None);
        assert_eq!(map.remove_first_expired(25), Some(b"f0".to_vec()));
        assert_eq!(map.remove_first_expired(25), Some(b"f3".to_vec()));
        assert_eq!(map.remove_first_expired(25), None);
        assert_eq!(map.earliest_expiry(), Some(30));
        assert!(!map.remove_if_expired(b"f2", 29));
        assert!(map.remove_if_expired(b"f2", 30));
        assert_eq!(map.field_count(), 1);
        assert!(map.expiry_times().is_none());
        check_invariants(&map);
    }

    #[test]
    fn removing_in_place_leaves_the_table_for_a_cheap_moment_to_shrink() {
        let mut map = map_of(1000, 1);
        for f in 0..990 {
            map.set_expiry(format!("f{f}").as_bytes(), 5);
        }
        let buckets = map.buckets.len();
        while map.remove_first_expired_in_place(5).is_some() {}
        assert_eq!((map.field_count(), map.buckets.len()), (10, buckets));
        map.shrink_table_if_within(9);
        assert_eq!(map.buckets.len(), buckets, "10 fields are more than 9");
        map.shrink_table_if_within(10);
        assert!(map.buckets.len() < buckets);
        check_invariants(&map);
        assert_eq!(map.view(5).field_count(), 10);
    }

    #[test]
    fn loading_checks_expiries_and_drops_the_expired_but_never_every_field() {
        let mut map = map_of(3, 1);
        assert_eq!(map.load_expiry(3, 5), Err(InvalidEncoding));
        assert_eq!(map.load_expiry(0, 0), Err(InvalidEncoding));
        assert_eq!(map.load_expiry(0, MAX_EXPIRY_MS + 1), Err(InvalidEncoding));
        assert_eq!(map.load_expiry(0, 5), Ok(()));
        assert_eq!(map.load_expiry(0, 6), Err(InvalidEncoding));
        map.load_expiry(1, 7).unwrap();
        map.load_expiry(2, 9).unwrap();
        assert_eq!(map.drop_expired(8), 2);
        assert_eq!(map.field_count(), 1);
        assert_eq!(map.drop_expired(100), 0, "the last field stays");
        assert_eq!(map.view(100).field_count(), 0);
    }

    /// A seeded sequence of writes, expiries and removals, checked against
    /// a model at random times.
    #[test]
    fn random_expiries_match_a_model() {
        let mut rng = Rng(99);
        let mut map = MultiMap::new();
        let mut model: HashMap<Vec<u8>, (Vec<Vec<u8>>, u64)> = HashMap::new();
        for step in 0..30_000u64 {
            let field = format!("f{}", rng.below(300)).into_bytes();
            let now = step / 10;
            match rng.below(8) {
                0..=2 => {
                    let value = vec![rng.below(256) as u8];
                    map.insert(&field, [value.as_slice()]);
                    model.entry(field).or_default().0.push(value);
                }
                3 => {
                    let time = now + rng.below(200) + 1;
                    let set = map.set_expiry(&field, time);
                    assert_eq!(set, model.contains_key(&field));
                    if let Some((_, at)) = model.get_mut(&field) {
                        *at = time;
                    }
                }
                4 => {
                    let had = model
                        .get_mut(&field)
                        .is_some_and(|(_, at)| std::mem::take(at) != 0);
                    assert_eq!(map.persist(&field), had);
                }
                5 => {
                    assert_eq!(map.remove_field(&field), model.remove(&field).is_some());
                }
                6 => {
                    map.pop(&field, crate::multimap::End::Left, 1);
                    if let Some((values, _)) = model.get_mut(&field) {
                        values.remove(0);
                        if values.is_empty() {
                            model.remove(&field);
                        }
                    }
                }
                _ => {
                    while let Some(name) = map.remove_first_expired(now) {
                        let (_, at) = model.remove(&name).expect("a modelled field");
                        assert!(at != 0 && at <= now);
                    }
                }
            }
            if step % 97 == 0 {
                check_invariants(&map);
                let view = map.view(now);
                let live: Vec<_> = model
                    .iter()
                    .filter(|(_, (_, at))| *at == 0 || *at > now)
                    .collect();
                assert_eq!(view.field_count(), live.len());
                let values: usize = live.iter().map(|(_, (v, _))| v.len()).sum();
                assert_eq!(view.value_count(), values);
                for (field, (values, at)) in &live {
                    assert_eq!(view.get(field).map(collect).as_ref(), Some(values));
                    let expected = if *at == 0 {
                        FieldExpiry::Never
                    } else {
                        FieldExpiry::At(*at)
                    };
                    assert_eq!(view.expiry(field), expected);
                }
                assert_eq!(view.iter().count(), live.len());
            }
        }
    }
}
