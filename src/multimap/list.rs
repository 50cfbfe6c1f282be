//! A field's values as a list, changed the ways Redis's list commands change
//! a list: at either end (pop, prepend, trim), in place (set), or with only
//! the values it lacks (add).
//!
//! Popping from the front and prepending work on the free bytes an entry may
//! keep before its record (`entry::GAP_FLAG`), so they move the field's name
//! but none of its values.

#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::ops::Range;

use super::entry::{Entry, ARGUMENT_SET_THRESHOLD};
use super::hasher::FieldHasher;
use super::packed::{encoded_value_len, put_value, value_at, value_start_before};
use super::value_index::{fingerprint, ValueSet, INDEX_THRESHOLD};
use super::values::{clamp_range, resolve_index, Values};
use super::{MultiMap, Sides};

/// The longest value `TakenValue` holds in place: with its length and the
/// enum's tag, the whole fits in 48 bytes.
const SHORT_VALUE_BYTES: usize = 46;

/// A value taken out of a map, to be replied after the key is closed. Short
/// values, the common case, are copied in place rather than allocated.
pub enum TakenValue {
    Short {
        len: u8,
        bytes: [u8; SHORT_VALUE_BYTES],
    },
    Long(Vec<u8>),
}

impl TakenValue {
    fn new(value: &[u8]) -> TakenValue {
        if value.len() <= SHORT_VALUE_BYTES {
            let mut bytes = [0; SHORT_VALUE_BYTES];
            bytes[..value.len()].copy_from_slice(value);
            TakenValue::Short {
                len: value.len() as u8,
                bytes,
            }
        } else {
            TakenValue::Long(value.to_vec())
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            TakenValue::Short { len, bytes } => &bytes[..usize::from(*len)],
            TakenValue::Long(value) => value,
        }
    }
}

/// What a cut took off a field: values, and the bytes of the record they
/// were.
struct Cut {
    values: usize,
    bytes: usize,
}

/// One end of a field's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// Why `MultiMap::set_value` set nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetError {
    NoSuchField,
    IndexOutOfRange,
}

impl MultiMap {
    /// Puts values at the front of `field`, creating it, in the given order
    /// (LPUSH would reverse them); returns values in the field afterwards. No
    /// values on a missing field creates nothing (0). Amortised O(1) per
    /// value: the values' bytes and the field's name are what move.
    pub fn prepend<'v, I>(&mut self, field: &[u8], values: I) -> usize
    where
        I: IntoIterator<Item = &'v [u8]>,
        I::IntoIter: Clone,
    {
        let hash = self.hash(field);
        match self.find(field, hash) {
            Some(i) => {
                let entry = &mut self.entries[i];
                self.totals.remove(entry);
                let added = entry.prepend(values.into_iter());
                self.totals.add(entry);
                self.values_added(i, End::Left, added)
            }
            None => self.add_field(hash, field, values),
        }
    }

    /// Appends each value the field does not hold yet, once even if given
    /// twice, creating the field; returns how many were appended. O(M)
    /// expected on a field with a value set (see `value_index`) unless some
    /// value shares its fingerprint with another, else O(N+M).
    pub fn add_missing<'v, I>(&mut self, field: &[u8], values: I) -> usize
    where
        I: IntoIterator<Item = &'v [u8]>,
        I::IntoIter: Clone,
    {
        let candidates = values.into_iter();
        let hash = self.hash(field);
        let Some(i) = self.find(field, hash) else {
            let candidates: Vec<&[u8]> = candidates.collect();
            return self.add_field(hash, field, not_yet_in(Values::NONE, &candidates));
        };
        let values = self.entries[i].values();
        let mut set = value_set_of(&mut self.sides, i, values, &self.hasher);
        // One value, as most calls give, through the set: no vector, and
        // its fingerprint computed once.
        let mut rest = candidates.clone();
        let only = rest.next().filter(|_| rest.next().is_none());
        if let (Some(value), Some(set)) = (only, set.as_deref_mut()) {
            let print = fingerprint(&self.hasher, value);
            match set.holds(values, print, value) {
                Some(true) => return 0,
                Some(false) => {
                    let entry = &mut self.entries[i];
                    let position = set.position_of(entry.len());
                    self.totals.remove(entry);
                    entry.append([value]);
                    self.totals.add(entry);
                    set.add(print, position);
                    self.values_changed_keeping(i, true);
                    return 1;
                }
                None => {}
            }
        }
        let missing = set
            .as_deref()
            .and_then(|set| missing_by_set(set, values, &self.hasher, candidates.clone()))
            .unwrap_or_else(|| not_yet_in(values, &candidates.collect::<Vec<_>>()));
        let entry = &mut self.entries[i];
        let first = entry.len();
        self.totals.remove(entry);
        let appended = entry.append(missing.iter().copied());
        self.totals.add(entry);
        if let Some(set) = &mut set {
            for (offset, value) in missing.iter().enumerate() {
                set.add(
                    fingerprint(&self.hasher, value),
                    set.position_of(first + offset),
                );
            }
        }
        self.values_changed_keeping(i, true);
        appended
    }

    /// LPOP/RPOP: `None` if the field is missing, else up to `count` values
    /// in the order popped (from the right: last value first). Drops a field
    /// left without values. O(values popped) at either end, amortised.
    pub fn pop(&mut self, field: &[u8], end: End, count: usize) -> Option<Vec<Vec<u8>>> {
        let mut popped = Vec::new();
        let i = self.cut_field(field, |entry| {
            let count = count.min(entry.len());
            popped.reserve_exact(count);
            entry.cut_end(end, count, |value| popped.push(value.to_vec()))
        })?;
        self.values_taken(i, end, popped.iter().map(Vec::as_slice));
        Some(popped)
    }

    /// LPOP/RPOP without a count: the value taken from `end`, `None` if the
    /// field is missing. A short value comes back without an allocation.
    pub fn pop_one(&mut self, field: &[u8], end: End) -> Option<TakenValue> {
        let mut taken = None;
        let i = self.cut_field(field, |entry| {
            entry.cut_end(end, 1, |value| taken = Some(TakenValue::new(value)))
        })?;
        self.values_taken(i, end, taken.iter().map(TakenValue::as_bytes));
        taken
    }

    /// The first half of `change_field` for a change that only cuts values
    /// off the field's ends: the totals lose what the cut measured, so that
    /// a pop reads where the record starts once rather than three times.
    /// Returns the entry, for `values_taken` to finish with the values
    /// taken; `None` if the field is missing.
    #[inline]
    fn cut_field(&mut self, field: &[u8], cut: impl FnOnce(&mut Entry) -> Cut) -> Option<usize> {
        let i = self.find(field, self.hash(field))?;
        let cut = cut(&mut self.entries[i]);
        self.totals.cut(cut.values, cut.bytes);
        Some(i)
    }

    /// LSET: `Ok(true)` if the value at `index` (negative from the end) is
    /// now `value`, `Ok(false)` if it already was.
    pub fn set_value(&mut self, field: &[u8], index: i64, value: &[u8]) -> Result<bool, SetError> {
        self.change_field(field, |entry| {
            let index = resolve_index(entry.len(), index).ok_or(SetError::IndexOutOfRange)?;
            Ok(entry.set_value(index, value))
        })
        .unwrap_or(Err(SetError::NoSuchField))
    }

    /// LTRIM: keeps the values from `start` to `stop` inclusive (as `range`
    /// reads them); returns how many were removed, dropping a field left
    /// without values. Finds where the kept values start and end as `get`
    /// reads a value: O(values removed) at most, and amortised O(1) in a
    /// field with checkpoints.
    pub fn trim(&mut self, field: &[u8], start: i64, stop: i64) -> usize {
        let Some(i) = self.find(field, self.hash(field)) else {
            return 0;
        };
        let len = self.entries[i].len();
        let (front, back) = match clamp_range(len, start, stop) {
            Some((first, last)) => (first, len - 1 - last),
            None => (0, len),
        };
        // A capped list (ADD, then TRIM to its cap) keeps its set: the set
        // forgets the few values cut, where building it again at the next
        // ADD would read them all.
        let kept = self.values_cut(i, front, back);
        self.change_entry(i, kept, |entry| entry.cut_unread(front, back));
        front + back
    }
}

/// Entry `i`'s value set, built here in one pass over its `values` if it
/// has none and is long enough to be given one.
fn value_set_of<'s>(
    sides: &'s mut Option<Box<Sides>>,
    i: usize,
    values: Values<'_>,
    hasher: &FieldHasher,
) -> Option<&'s mut ValueSet> {
    if values.len() >= INDEX_THRESHOLD {
        let sets = &mut sides.get_or_insert_with(Box::default).value_sets;
        Some(sets.get_or_build(i, || ValueSet::of(hasher, values.iter())))
    } else {
        // A set built when the field was longer is as good.
        sides.as_mut().and_then(|sides| sides.value_sets.get_mut(i))
    }
}

/// `not_yet_in(values, candidates)` as `set`, the set of `values`, tells
/// it: each candidate missing, or held where the set places it; `None`
/// when the set cannot tell for some candidate (its fingerprint counts
/// several values), and only reading all the values can.
fn missing_by_set<'v>(
    set: &ValueSet,
    values: Values<'_>,
    hasher: &FieldHasher,
    candidates: impl Iterator<Item = &'v [u8]>,
) -> Option<Vec<&'v [u8]>> {
    let mut missing = Vec::with_capacity(candidates.size_hint().0);
    for candidate in candidates {
        if !set.holds(values, fingerprint(hasher, candidate), candidate)? {
            missing.push(candidate);
        }
    }
    if missing.len() > ARGUMENT_SET_THRESHOLD {
        return Some(not_yet_in(Values::NONE, &missing));
    }
    // Each given once, in place: most calls give one value.
    let mut kept = 0;
    for next in 0..missing.len() {
        if !missing[..kept].contains(&missing[next]) {
            missing[kept] = missing[next];
            kept += 1;
        }
    }
    missing.truncate(kept);
    Some(missing)
}

/// The distinct `candidates` (first occurrences, in order) that `existing`
/// does not hold. A short list is compared with each value once; a long one
/// goes through a hash set of the values, so this stays O(N+M).
fn not_yet_in<'v>(existing: Values<'_>, candidates: &[&'v [u8]]) -> Vec<&'v [u8]> {
    if candidates.len() > ARGUMENT_SET_THRESHOLD {
        let mut seen: HashSet<&[u8]> = existing.iter().collect();
        return candidates
            .iter()
            .copied()
            .filter(|&candidate| seen.insert(candidate))
            .collect();
    }
    let mut held = [false; ARGUMENT_SET_THRESHOLD];
    for value in existing.iter() {
        for (held, &candidate) in held.iter_mut().zip(candidates) {
            *held |= candidate == value;
        }
    }
    candidates
        .iter()
        .enumerate()
        .filter(|&(i, candidate)| !held[i] && !candidates[..i].contains(candidate))
        .map(|(_, &candidate)| candidate)
        .collect()
}

impl Entry {
    /// Puts `values` before the first value, in their order; returns how
    /// many. When the free bytes before the record hold them, only the name
    /// moves; else the record is laid out again with room to spare.
    fn prepend<'v>(&mut self, values: impl Iterator<Item = &'v [u8]> + Clone) -> usize {
        let (added, bytes) = values.clone().fold((0, 0), |(added, bytes), value| {
            (added + 1, bytes + encoded_value_len(value))
        });
        if added == 0 {
            return 0;
        }
        self.check_room_for(added);
        self.reserve_checkpoints(added);
        let mut start = self.record_start();
        if start < self.checkpoints_len() + bytes {
            start = self.relayout(bytes, 0);
        }
        let name_end = self.values_offset();
        let new_start = start - bytes;
        self.data.copy_within(start..name_end, new_start);
        let mut at = new_start + (name_end - start);
        for value in values {
            at += put_value(&mut self.data[at..name_end], value);
        }
        assert_eq!(at, name_end, "the values to prepend changed between walks");
        self.set_record_start(new_start);
        self.add_to_count(added);
        self.index_prepended(added);
        added
    }

    /// Removes `count` values (at most all) from `end`, handing each to
    /// `taken` in the order popped.
    #[inline]
    fn cut_end(&mut self, end: End, count: usize, taken: impl FnMut(&[u8])) -> Cut {
        match end {
            End::Left => self.cut(count, 0, taken),
            End::Right => self.cut(0, count, taken),
        }
    }

    /// Removes `front` values from the front and `back` from the back (at
    /// most all together), handing each to `taken`: the back ones last first,
    /// then the front ones first first. Always inlined: most pops take one
    /// value, and with the counts known its loops of one step fold away.
    #[inline(always)]
    fn cut(&mut self, front: usize, back: usize, mut taken: impl FnMut(&[u8])) -> Cut {
        let mut cut = Cut {
            values: front + back,
            bytes: 0,
        };
        if cut.values == 0 {
            return cut;
        }
        let mut end = self.data.len();
        for _ in 0..back {
            let start = value_start_before(&self.data, end);
            taken(value_at(&self.data, start).0);
            end = start;
        }
        let start = self.record_start();
        let name_end = self.values_offset_from(start);
        let mut values_start = name_end;
        for _ in 0..front {
            let (value, next) = value_at(&self.data, values_start);
            taken(value);
            values_start = next;
        }
        cut.bytes = (values_start - name_end) + (self.data.len() - end);
        self.cut_at(front, back, start..name_end, values_start, end);
        cut
    }

    /// `cut` without handing the values out: where the values kept start
    /// and end is read as INDEX reads a value, from the nearer end or
    /// checkpoint, instead of walking over every value cut.
    fn cut_unread(&mut self, front: usize, back: usize) {
        if front + back == 0 {
            return;
        }
        let len = self.len();
        let start = self.record_start();
        let name_end = self.values_offset_from(start);
        let values = self.values();
        let offset = |index: usize| match index {
            index if index == len => values.packed.len(),
            index => values.offset_of(index),
        };
        let (values_start, end) = (offset(front), offset(len - back));
        self.cut_at(
            front,
            back,
            start..name_end,
            name_end + values_start,
            name_end + end,
        );
    }

    /// Removes the `front` values before offset `values_start` of the
    /// buffer and the `back` ones from `end` on, the record's name lying at
    /// `name` (its length included). Cutting the front moves only the name
    /// forward, leaving free bytes before the record. Inlined in `cut`, as
    /// it is.
    #[inline(always)]
    fn cut_at(
        &mut self,
        front: usize,
        back: usize,
        name: Range<usize>,
        values_start: usize,
        end: usize,
    ) {
        self.data.truncate(end);
        self.set_len(self.len() - front - back);
        if self.len() == 0 {
            // The field is about to be dropped: nothing is worth moving.
            self.data.truncate(name.end);
            return;
        }
        let mut start = name.start;
        if front > 0 {
            start += values_start - name.end;
            self.data.copy_within(name, start);
            self.set_record_start(start);
            self.index_popped_front(front);
        }
        self.shrink_if_mostly_unused_from(start);
    }

    /// Puts `value` at `index` (below `len`); returns whether the bytes
    /// changed. The values after it move when its length changes, as LSET
    /// moves them in a listpack.
    fn set_value(&mut self, index: usize, value: &[u8]) -> bool {
        let relative = self.values().offset_of(index);
        let mut offset = self.values_offset() + relative;
        let (old, old_end) = value_at(&self.data, offset);
        if old == value {
            return false;
        }
        let old_len = old_end - offset;
        let new_len = encoded_value_len(value);
        if new_len > old_len {
            let grow = new_len - old_len;
            if self.data.capacity() - self.data.len() < grow {
                self.make_room_at_end(grow);
                offset = self.values_offset() + relative;
            }
            let len = self.data.len();
            self.data.resize(len + grow, 0);
            self.data
                .copy_within(offset + old_len..len, offset + new_len);
        } else if new_len < old_len {
            let len = self.data.len();
            self.data
                .copy_within(offset + old_len..len, offset + new_len);
            self.data.truncate(len - (old_len - new_len));
        }
        put_value(&mut self.data[offset..offset + new_len], value);
        if new_len != old_len && self.is_indexed() {
            self.index_values_moved(index + 1, new_len as isize - old_len as isize);
        }
        if new_len < old_len {
            self.shrink_if_mostly_unused();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::multimap::entry::GAP_FLAG;
    use crate::multimap::size_class::heap_alloc;
    use crate::multimap::test_support::{
        assert_positions_match, check_entry, check_invariants, field_values, model_add,
        model_index, model_pop, model_positions, model_set, model_trim, numbered_values, vecs, Rng,
    };

    fn slices(values: &[Vec<u8>]) -> impl Iterator<Item = &[u8]> + Clone {
        values.iter().map(Vec::as_slice)
    }

    /// Binary values whose lengths take one, two and three bytes.
    fn binary_values() -> Vec<Vec<u8>> {
        vecs(&[b"", b"\0", &[7u8; 200], b"a\0\xff", &[0xffu8; 20_000]])
    }

    /// Field names whose lengths take one and two bytes.
    const NAMES: [&[u8]; 3] = [b"", b"f\0", &[b'n'; 200]];

    /// The field's record is what a field built from scratch with the same
    /// values would be: RDB saves the same bytes whatever happened to it.
    fn assert_record_is_canonical(m: &MultiMap, field: &[u8]) {
        let values = field_values(m, field).expect("the field");
        let fresh = Entry::new(field, slices(&values));
        let saved = m
            .records()
            .filter(|&(record, count)| record == fresh.data && count == values.len());
        assert_eq!(saved.count(), 1, "no record as a fresh field's");
    }

    #[test]
    fn prepend_puts_values_at_the_front_in_the_given_order() {
        let mut m = MultiMap::new();
        assert_eq!(m.prepend(b"f", [&b"c"[..], b"d"]), 2);
        assert_eq!(m.prepend(b"f", [&b"a"[..], b"b"]), 4);
        assert_eq!(
            field_values(&m, b"f"),
            Some(vecs(&[b"a", b"b", b"c", b"d"]))
        );
        assert_eq!(m.prepend(b"f", []), 4);
        assert_eq!(m.prepend(b"g", []), 0);
        assert!(m.get(b"g").is_none());
        assert_eq!((m.field_count(), m.value_count()), (1, 4));
        check_invariants(&m);
    }

    #[test]
    fn prepend_keeps_binary_values_and_names_of_every_length() {
        for name in NAMES {
            let mut m = MultiMap::new();
            m.insert(name, [&b"last"[..]]);
            let mut expected = vecs(&[b"last"]);
            for value in binary_values() {
                m.prepend(name, [value.as_slice()]);
                expected.insert(0, value);
                assert_eq!(field_values(&m, name).as_ref(), Some(&expected));
                check_invariants(&m);
            }
            let batch = binary_values();
            assert_eq!(m.prepend(name, slices(&batch)), 2 * batch.len() + 1);
            expected.splice(0..0, batch);
            assert_eq!(field_values(&m, name), Some(expected));
            check_invariants(&m);
            assert_record_is_canonical(&m, name);
        }
    }

    #[test]
    fn pop_follows_lpop_and_rpop() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b", b"c", b"d", b"e"]);
        m.insert(b"other", [&b"x"[..]]);
        assert_eq!(m.pop(b"f", End::Left, 1), Some(vecs(&[b"a"])));
        assert_eq!(m.pop(b"f", End::Right, 2), Some(vecs(&[b"e", b"d"])));
        assert_eq!(m.pop(b"f", End::Left, 0), Some(Vec::new()));
        assert_eq!(m.pop(b"f", End::Right, 0), Some(Vec::new()));
        assert_eq!(field_values(&m, b"f"), Some(vecs(&[b"b", b"c"])));
        assert_eq!(m.pop(b"missing", End::Left, 1), None);
        assert_eq!(m.pop(b"missing", End::Right, 0), None);
        assert_eq!(m.value_count(), 3);
        check_invariants(&m);
        assert_eq!(
            m.pop(b"f", End::Right, usize::MAX),
            Some(vecs(&[b"c", b"b"]))
        );
        assert!(m.get(b"f").is_none(), "an emptied field goes");
        assert_eq!(m.pop(b"f", End::Left, 1), None);
        assert_eq!((m.field_count(), m.value_count()), (1, 1));
        assert_eq!(m.pop(b"other", End::Left, 5), Some(vecs(&[b"x"])));
        assert!(m.is_empty());
        check_invariants(&m);
    }

    #[test]
    fn pop_takes_binary_values_from_either_end() {
        for name in NAMES {
            for end in [End::Left, End::Right] {
                let mut m = MultiMap::new();
                let mut expected = [binary_values(), binary_values()].concat();
                m.insert(name, slices(&expected));
                while !expected.is_empty() {
                    let popped = match end {
                        End::Left => expected.remove(0),
                        End::Right => expected.pop().unwrap(),
                    };
                    assert_eq!(m.pop(name, end, 1), Some(vec![popped]));
                    check_invariants(&m);
                    assert_eq!(field_values(&m, name).unwrap_or_default(), expected);
                    if !expected.is_empty() {
                        assert_record_is_canonical(&m, name);
                    }
                }
                assert!(m.is_empty());
            }
        }
    }

    #[test]
    fn set_value_follows_lset() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b", b"c"]);
        assert_eq!(m.set_value(b"f", 0, b"x"), Ok(true));
        assert_eq!(m.set_value(b"f", -1, b"y"), Ok(true));
        assert_eq!(m.set_value(b"f", 1, b"b"), Ok(false));
        assert_eq!(m.set_value(b"f", -2, b"b"), Ok(false));
        for index in [3, -4, i64::MAX, i64::MIN, i64::MIN + 1] {
            assert_eq!(
                m.set_value(b"f", index, b"z"),
                Err(SetError::IndexOutOfRange),
                "{index}"
            );
        }
        assert_eq!(m.set_value(b"missing", 0, b"z"), Err(SetError::NoSuchField));
        assert!(m.get(b"missing").is_none());
        assert_eq!(field_values(&m, b"f"), Some(vecs(&[b"x", b"b", b"y"])));
        assert_eq!(m.value_count(), 3);
        check_invariants(&m);
    }

    #[test]
    fn set_value_moves_what_follows_when_the_length_changes() {
        let values = binary_values();
        for name in NAMES {
            for popped_first in [false, true] {
                for index in [0, 2, 4] {
                    for old in &values {
                        for new in &values {
                            let mut m = MultiMap::new();
                            let mut expected = values.clone();
                            expected[index] = old.clone();
                            if popped_first {
                                // Free bytes before the record, which growing may reuse.
                                m.insert(name, [&b"gone"[..]]);
                            }
                            m.insert(name, slices(&expected));
                            if popped_first {
                                m.pop(name, End::Left, 1);
                            }
                            let changed = m.set_value(name, index as i64, new);
                            assert_eq!(changed, Ok(old != new));
                            expected[index] = new.clone();
                            assert_eq!(field_values(&m, name).as_ref(), Some(&expected));
                            check_invariants(&m);
                            assert_record_is_canonical(&m, name);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn trim_follows_ltrim_with_any_indexes() {
        let values = binary_values();
        let mut indexes: Vec<i64> = (-8..=8).collect();
        indexes.extend([i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1]);
        for &start in &indexes {
            for &stop in &indexes {
                let mut m = MultiMap::new();
                m.insert(b"f", slices(&values));
                let mut kept = values.clone();
                let removed = model_trim(&mut kept, start, stop);
                assert_eq!(m.trim(b"f", start, stop), removed, "{start} {stop}");
                assert_eq!(field_values(&m, b"f").unwrap_or_default(), kept);
                assert_eq!(m.is_empty(), kept.is_empty());
                check_invariants(&m);
            }
        }
        let mut m = MultiMap::new();
        assert_eq!(m.trim(b"missing", 0, -1), 0);
        assert_eq!(m.trim(b"missing", 1, 0), 0);
        assert!(m.is_empty());
    }

    #[test]
    fn add_missing_appends_each_new_value_once() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b", b"a"]);
        assert_eq!(m.add_missing(b"f", [&b"b"[..], b"c", b"c", b"a", b"d"]), 2);
        assert_eq!(
            field_values(&m, b"f"),
            Some(vecs(&[b"a", b"b", b"a", b"c", b"d"]))
        );
        assert_eq!(m.add_missing(b"f", [&b"a"[..]]), 0);
        assert_eq!(m.add_missing(b"f", []), 0);
        assert_eq!(m.add_missing(b"g", [&b"x"[..], b"x", b"", b""]), 2);
        assert_eq!(field_values(&m, b"g"), Some(vecs(&[b"x", b""])));
        assert_eq!(m.add_missing(b"h", []), 0);
        assert!(m.get(b"h").is_none());
        assert_eq!((m.field_count(), m.value_count()), (2, 7));
        check_invariants(&m);
    }

    #[test]
    fn add_missing_agrees_for_short_and_long_argument_lists() {
        let mut rng = Rng(0xADD);
        let pool: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; usize::from(i % 3)]).collect();
        for round in 0..200 {
            let stored: Vec<&[u8]> = (0..rng.below(30))
                .map(|_| pool[rng.below(40) as usize].as_slice())
                .collect();
            let arguments: Vec<&[u8]> = (0..rng.below(2 * ARGUMENT_SET_THRESHOLD as u64 + 2))
                .map(|_| pool[rng.below(40) as usize].as_slice())
                .collect();
            let mut expected: Vec<&[u8]> = stored.clone();
            for &argument in &arguments {
                if !expected.contains(&argument) {
                    expected.push(argument);
                }
            }
            let mut m = MultiMap::new();
            m.insert(b"f", stored.iter().copied());
            let added = m.add_missing(b"f", arguments.iter().copied());
            assert_eq!(added, expected.len() - stored.len(), "round {round}");
            let expected: Vec<Vec<u8>> = expected.iter().map(|v| v.to_vec()).collect();
            assert_eq!(field_values(&m, b"f").unwrap_or_default(), expected);
            check_invariants(&m);
        }
    }

    /// Where the only field of a map lies in its buffer.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    struct Layout {
        buffer: usize,
        start: usize,
        name: usize,
        record: usize,
        capacity: usize,
    }

    impl Layout {
        fn of(m: &MultiMap) -> Layout {
            let entry = &m.entries[0];
            let start = entry.record_start();
            Layout {
                buffer: entry.data.as_ptr() as usize,
                start,
                name: entry.values_offset() - start,
                record: entry.record().len(),
                capacity: entry.data.capacity(),
            }
        }
    }

    /// The bytes operations moved on the only field of a map, judged from
    /// the outside: when the record kept its buffer and its start moved by
    /// just what was cut from or put at the front, the name and the bytes
    /// added; else the whole record, which was laid out again.
    #[derive(Default, Debug)]
    struct Work {
        moved: usize,
        relayouts: usize,
        reallocations: usize,
    }

    impl Work {
        /// `front` is how far the record's start moves (negative: earlier),
        /// `added` the bytes written.
        fn run(
            &mut self,
            m: &mut MultiMap,
            front: isize,
            added: usize,
            op: impl FnOnce(&mut MultiMap),
        ) {
            let before = Layout::of(m);
            op(m);
            let after = Layout::of(m);
            if after.buffer == before.buffer
                && after.start as isize == before.start as isize + front
            {
                self.moved += before.name + added;
            } else {
                self.moved += after.record;
                self.relayouts += 1;
            }
            self.reallocations += usize::from(after.buffer != before.buffer);
        }
    }

    #[test]
    fn popping_a_hundred_thousand_values_from_the_left_moves_only_names_and_gives_memory_back() {
        let values = numbered_values(100_000);
        let mut m = MultiMap::new();
        m.insert(b"queue", slices(&values));
        let full = Layout::of(&m);
        let mut work = Work::default();
        for (i, value) in values[..values.len() - 10].iter().enumerate() {
            let cut = encoded_value_len(value) as isize;
            work.run(&mut m, cut, 0, |m| {
                assert_eq!(m.pop(b"queue", End::Left, 1), Some(vec![value.clone()]));
            });
            if i % 4096 == 0 {
                check_entry(&m.entries[0]);
            }
        }
        assert_eq!(
            field_values(&m, b"queue").unwrap(),
            values[values.len() - 10..]
        );
        check_invariants(&m);
        let left = Layout::of(&m);
        assert!(
            left.capacity <= 2 * heap_alloc(left.record) && left.capacity < full.capacity / 1000,
            "{left:?} after {full:?}"
        );
        // Each pop moves the 6-byte name; giving memory back as the field
        // halves copies what is left, about the field's size over all pops.
        let popped_bytes = full.record - left.record;
        assert!(
            work.moved <= 100_000 * full.name + 2 * popped_bytes,
            "{work:?} for {popped_bytes} bytes popped"
        );
        assert!(work.reallocations <= 40, "{work:?}");
    }

    #[test]
    fn prepending_a_hundred_thousand_values_one_at_a_time_moves_each_byte_a_bounded_number_of_times(
    ) {
        let values = numbered_values(100_000);
        let mut m = MultiMap::new();
        m.insert(b"stack", [&b"bottom"[..]]);
        let mut work = Work::default();
        for value in &values {
            let added = encoded_value_len(value);
            work.run(&mut m, -(added as isize), added, |m| {
                m.prepend(b"stack", [value.as_slice()]);
            });
        }
        check_invariants(&m);
        let field = Layout::of(&m);
        let stack = field_values(&m, b"stack").unwrap();
        assert_eq!(stack.len(), 100_001);
        assert!(stack[..100_000].iter().eq(values.iter().rev()));
        assert!(
            work.moved <= 10 * field.record,
            "{work:?} for a {}-byte record",
            field.record
        );
        assert!(work.reallocations <= 80, "{work:?}");
        // Trimming to a few values gives the memory back.
        assert_eq!(m.trim(b"stack", 0, 9), 99_991);
        let trimmed = Layout::of(&m);
        assert!(trimmed.capacity < field.capacity / 1000, "{trimmed:?}");
        check_invariants(&m);
    }

    #[test]
    fn a_capped_list_neither_reallocates_nor_moves_its_values_on_every_call() {
        // PREPEND 1 + TRIM 0 99, the usual "last 100 events".
        let values = numbered_values(10_100);
        let mut m = MultiMap::new();
        m.insert(b"recent", slices(&values[..100]));
        let mut work = Work::default();
        for value in &values[100..] {
            let added = encoded_value_len(value);
            work.run(&mut m, -(added as isize), added, |m| {
                m.prepend(b"recent", [value.as_slice()]);
            });
            work.run(&mut m, 0, 0, |m| {
                assert_eq!(m.trim(b"recent", 0, 99), 1);
            });
            check_entry(&m.entries[0]);
        }
        let recent = field_values(&m, b"recent").unwrap();
        assert!(recent.iter().eq(values[10_000..].iter().rev()));
        assert!(work.reallocations <= 2, "{work:?}");
        // A relayout moves the 1,300-byte record once per several calls.
        let record = Layout::of(&m).record;
        assert!(work.relayouts <= 10_000 / 8, "{work:?}");
        assert!(work.moved <= 10_000 * 20 * 8 + 10 * record, "{work:?}");
    }

    #[test]
    fn a_queue_reuses_the_bytes_freed_at_its_front() {
        // Append at the back, pop at the front: the free bytes before the
        // record make room at the back without a new buffer.
        let values = numbered_values(20_100);
        let mut m = MultiMap::new();
        m.insert(b"queue", slices(&values[..100]));
        let mut work = Work::default();
        for (i, value) in values[100..].iter().enumerate() {
            let added = encoded_value_len(value);
            work.run(&mut m, 0, added, |m| {
                m.insert(b"queue", [value.as_slice()]);
            });
            let cut = encoded_value_len(&values[i]) as isize;
            work.run(&mut m, cut, 0, |m| {
                assert_eq!(m.pop(b"queue", End::Left, 1), Some(vec![values[i].clone()]));
            });
            check_entry(&m.entries[0]);
        }
        assert_eq!(field_values(&m, b"queue").unwrap(), values[20_000..]);
        assert!(work.reallocations <= 2, "{work:?}");
        assert!(work.relayouts <= 20_000 / 8, "{work:?}");
    }

    #[test]
    fn alternating_ends_moves_each_byte_a_bounded_number_of_times() {
        let values = numbered_values(40_000);
        let mut m = MultiMap::new();
        m.insert(b"deque", [&b"middle"[..]]);
        let mut work = Work::default();
        for pair in values.chunks(2) {
            let added = encoded_value_len(&pair[0]);
            work.run(&mut m, -(added as isize), added, |m| {
                m.prepend(b"deque", [pair[0].as_slice()]);
            });
            let added = encoded_value_len(&pair[1]);
            work.run(&mut m, 0, added, |m| {
                m.insert(b"deque", [pair[1].as_slice()]);
            });
        }
        check_invariants(&m);
        let record = Layout::of(&m).record;
        assert!(work.moved <= 20 * record, "{work:?} for {record} bytes");
        assert_eq!(m.value_count(), 40_001);
    }

    #[test]
    fn a_field_with_free_bytes_before_its_record_saves_its_record_only() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b", b"c"]);
        let buffer = m.entries[0].data.as_ptr();
        assert_eq!(m.pop(b"f", End::Left, 2), Some(vecs(&[b"a", b"b"])));
        let entry = &m.entries[0];
        assert_eq!(entry.data.as_ptr(), buffer, "popping moved only the name");
        assert_ne!(entry.count & GAP_FLAG, 0);
        assert_eq!(entry.record_start(), 6);
        assert_eq!(m.stored_bytes(), 2 + 3);
        assert_record_is_canonical(&m, b"f");
        let mut copy = MultiMap::new();
        for (record, count) in m.records() {
            copy.insert_record(record.to_vec(), count as u64).unwrap();
        }
        assert_eq!(field_values(&copy, b"f"), Some(vecs(&[b"c"])));
        assert_eq!(copy.stored_bytes(), m.stored_bytes());
        check_invariants(&copy);
        // Prepending what was popped fills the free bytes exactly: the record
        // is back at the start of the same buffer.
        assert_eq!(m.prepend(b"f", [&b"x"[..], b"y"]), 3);
        let entry = &m.entries[0];
        assert_eq!(entry.data.as_ptr(), buffer);
        assert_eq!((entry.count & GAP_FLAG, entry.record_start()), (0, 0));
        assert_eq!(entry.data, Entry::new(b"f", [&b"x"[..], b"y", b"c"]).data);
        check_invariants(&m);
    }

    #[test]
    fn list_operations_on_long_fields_match_a_model() {
        let mut rng = Rng(0x1157);
        let pool = vecs(&[b"", b"a", b"\0", b"bb", &[9u8; 130], &[0xfeu8; 200]]);
        let mut m = MultiMap::new();
        let mut model: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        let random_values = |rng: &mut Rng| -> Vec<Vec<u8>> {
            (0..rng.below(5))
                .map(|_| pool[rng.below(pool.len() as u64) as usize].clone())
                .collect()
        };
        let random_index = |rng: &mut Rng, len: usize| -> i64 {
            match rng.below(20) {
                0 => i64::MIN,
                1 => i64::MAX,
                _ => rng.below(2 * len as u64 + 5) as i64 - len as i64 - 2,
            }
        };
        for op in 0..10_000 {
            let name = NAMES[rng.below(NAMES.len() as u64) as usize];
            let field = model.entry(name.to_vec()).or_default();
            let len = field.len();
            match rng.below(10) {
                0 | 1 => {
                    let values = random_values(&mut rng);
                    field.extend_from_slice(&values);
                    assert_eq!(m.insert(name, slices(&values)), field.len());
                }
                2 | 3 => {
                    let values = random_values(&mut rng);
                    field.splice(0..0, values.iter().cloned());
                    assert_eq!(m.prepend(name, slices(&values)), field.len());
                }
                4 => {
                    let values = random_values(&mut rng);
                    let added = model_add(field, &values);
                    assert_eq!(m.add_missing(name, slices(&values)), added);
                }
                5 | 6 => {
                    let end = [End::Left, End::Right][rng.below(2) as usize];
                    let count = rng.below(6) as usize;
                    let popped = (len > 0).then(|| model_pop(field, end, count));
                    assert_eq!(m.pop(name, end, count), popped);
                }
                7 => {
                    let index = random_index(&mut rng, len);
                    let value = &pool[rng.below(pool.len() as u64) as usize];
                    let expected = match len {
                        0 => Err(SetError::NoSuchField),
                        _ => model_set(field, index, value),
                    };
                    assert_eq!(m.set_value(name, index, value), expected);
                }
                8 => {
                    // Mostly keeping the field, and it under 100 values.
                    let start = match rng.below(4) {
                        0 => random_index(&mut rng, len),
                        _ => rng.below(3) as i64,
                    };
                    let stop = match rng.below(4) {
                        0 => random_index(&mut rng, len),
                        _ => rng.below(100) as i64,
                    };
                    let removed = model_trim(field, start, stop);
                    assert_eq!(m.trim(name, start, stop), removed);
                }
                _ => {
                    let index = random_index(&mut rng, len);
                    let values = m.get(name);
                    assert_eq!(values.and_then(|v| v.get(index)), model_index(field, index));
                    let value = &pool[rng.below(pool.len() as u64) as usize];
                    let rank = [1, 2, -1, -3, i64::MAX, -i64::MAX][rng.below(6) as usize];
                    let (count, maxlen) = (rng.below(4) as usize, rng.below(8) as usize);
                    assert_eq!(
                        values.map_or_else(Vec::new, |v| v.positions(value, rank, count, maxlen)),
                        model_positions(field, value, rank, count, maxlen),
                    );
                }
            }
            model.retain(|_, values| !values.is_empty());
            assert_eq!(field_values(&m, name).as_ref(), model.get(name), "op {op}");
            let field = model.get(name).map_or(&[][..], Vec::as_slice);
            assert_positions_match(&m, name, field, &mut rng);
            check_invariants(&m);
        }
        assert_eq!(m.field_count(), model.len());
    }

    #[test]
    fn pop_one_takes_short_and_long_values_from_either_end() {
        let long = vec![b'x'; SHORT_VALUE_BYTES + 1];
        let short = vec![b'y'; SHORT_VALUE_BYTES];
        let mut m = MultiMap::new();
        m.insert(b"f", [&long[..], b"", &short[..], b"z"]);
        let bytes = |taken: Option<TakenValue>| taken.map(|value| value.as_bytes().to_vec());
        assert_eq!(bytes(m.pop_one(b"f", End::Left)), Some(long));
        assert_eq!(bytes(m.pop_one(b"f", End::Right)), Some(b"z".to_vec()));
        assert_eq!(bytes(m.pop_one(b"f", End::Right)), Some(short));
        assert_eq!(bytes(m.pop_one(b"f", End::Left)), Some(Vec::new()));
        assert!(m.is_empty());
        assert!(m.pop_one(b"f", End::Left).is_none());
    }
}
