//! A field's values as a list, changed the ways Redis's list commands change
//! a list: at either end (pop, prepend, trim), in place (set), or with only
//! the values it lacks (add).
//!
//! Popping from the front and prepending work on the free bytes an entry may
//! keep before its record (`entry::GAP_FLAG`), so they move the field's name
//! but none of its values.

#![forbid(unsafe_code)]

use std::collections::HashSet;

use super::entry::{Entry, ARGUMENT_SET_THRESHOLD};
use super::packed::{encoded_value_len, put_value, value_at, value_start_before};
use super::values::{clamp_range, resolve_index, Values};
use super::MultiMap;

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
                entry.prepend(values.into_iter());
                self.totals.add(entry);
                entry.len()
            }
            None => self.add_field(hash, field, values),
        }
    }

    /// Appends each value the field does not hold yet, once even if given
    /// twice, creating the field; returns how many were appended. O(N+M).
    pub fn add_missing<'v>(
        &mut self,
        field: &[u8],
        values: impl IntoIterator<Item = &'v [u8]>,
    ) -> usize {
        let candidates: Vec<&[u8]> = values.into_iter().collect();
        let hash = self.hash(field);
        match self.find(field, hash) {
            Some(i) => {
                let entry = &mut self.entries[i];
                let missing = not_yet_in(entry.values(), &candidates);
                self.totals.remove(entry);
                let appended = entry.append(missing);
                self.totals.add(entry);
                appended
            }
            None => {
                let nothing = Values {
                    count: 0,
                    packed: &[],
                };
                self.add_field(hash, field, not_yet_in(nothing, &candidates))
            }
        }
    }

    /// LPOP/RPOP: `None` if the field is missing, else up to `count` values
    /// in the order popped (from the right: last value first). Drops a field
    /// left without values. O(values popped) at either end, amortised.
    pub fn pop(&mut self, field: &[u8], end: End, count: usize) -> Option<Vec<Vec<u8>>> {
        self.change_field(field, |entry| {
            let count = count.min(entry.len());
            let mut popped = Vec::with_capacity(count);
            let keep = |value: &[u8]| popped.push(value.to_vec());
            match end {
                End::Left => entry.cut(count, 0, keep),
                End::Right => entry.cut(0, count, keep),
            }
            popped
        })
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
    /// without values. O(values removed).
    pub fn trim(&mut self, field: &[u8], start: i64, stop: i64) -> usize {
        self.change_field(field, |entry| {
            let len = entry.len();
            let (front, back) = match clamp_range(len, start, stop) {
                Some((first, last)) => (first, len - 1 - last),
                None => (0, len),
            };
            entry.cut(front, back, |_| {});
            front + back
        })
        .unwrap_or(0)
    }
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
        self.add_to_count(added);
        let mut start = self.record_start();
        if start < bytes {
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
        added
    }

    /// Removes `front` values from the front and `back` from the back (at
    /// most all together), handing each to `taken`: the back ones last first,
    /// then the front ones first first. Cutting the front moves only the name
    /// forward, leaving free bytes before the record.
    fn cut(&mut self, front: usize, back: usize, mut taken: impl FnMut(&[u8])) {
        if front + back == 0 {
            return;
        }
        let mut end = self.data.len();
        for _ in 0..back {
            let start = value_start_before(&self.data, end);
            taken(value_at(&self.data, start).0);
            end = start;
        }
        self.data.truncate(end);
        let start = self.record_start();
        let name_end = self.values_offset();
        let mut values_start = name_end;
        for _ in 0..front {
            let (value, next) = value_at(&self.data, values_start);
            taken(value);
            values_start = next;
        }
        self.set_len(self.len() - front - back);
        if self.len() == 0 {
            // The field is about to be dropped: nothing is worth moving.
            self.data.truncate(name_end);
            return;
        }
        if front > 0 {
            let new_start = start + (values_start - name_end);
            self.data.copy_within(start..name_end, new_start);
            self.set_record_start(new_start);
        }
        self.shrink_if_mostly_unused();
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
            self.data.copy_within(offset + old_len..len, offset + new_len);
            self.data.truncate(len - (old_len - new_len));
        }
        put_value(&mut self.data[offset..offset + new_len], value);
        if new_len < old_len {
            self.shrink_if_mostly_unused();
        }
        true
    }
}
