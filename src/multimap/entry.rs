//! One field as the table stores it: a single allocation holding the field's
//! name and its packed values. That allocation is also the field's RDB record,
//! so a field is saved with one write and loaded without a copy.

#![forbid(unsafe_code)]

use std::collections::HashSet;

use super::checkpoints::{Checkpoints, INDEX_BELOW, INDEX_FROM};
use super::leb128::{put_varint, read_varint, write_varint};
use super::packed::{
    count_packed_values, encode_value, encoded_value_len, put_value, value_at, value_of_len_at,
};
use super::size_class::{fit_to_size_class, heap_alloc, reserve_in_size_classes};
use super::{InvalidEncoding, Values, NIL};

/// Above this many arguments (values to remove or to add), a hash set beats
/// comparing each value of the field with every argument.
pub(super) const ARGUMENT_SET_THRESHOLD: usize = 8;

/// Set in `count` when `data` does not start with the record: it starts with
/// twice the record's offset (LEB128), plus one when checkpoints follow (see
/// `checkpoints`), and the bytes up to the record are free. Popping from the
/// front then moves only the name forward, and prepending fills the free
/// bytes, instead of moving every value. A field never used at its front
/// and too short for checkpoints keeps the record at 0, as it is saved.
pub(super) const GAP_FLAG: u32 = 1 << 31;

/// Values a field can hold: what `count` leaves beside `GAP_FLAG`.
pub(super) const MAX_VALUES: u32 = GAP_FLAG - 1;

/// One field: its record (`[name length][name][value]...`) in a single
/// allocation, so a field costs one block however many values it has.
#[derive(Clone)]
pub(super) struct Entry {
    /// The record, from 0 or from the offset `GAP_FLAG` says is written here.
    pub(super) data: Vec<u8>,
    /// Number of values (at most `MAX_VALUES`), and `GAP_FLAG`.
    pub(super) count: u32,
    /// Next entry in the same bucket chain, or `NIL`.
    pub(super) next: u32,
}

impl Entry {
    #[inline]
    pub(super) fn new<'v>(field: &[u8], values: impl IntoIterator<Item = &'v [u8]>) -> Entry {
        let mut data = Vec::new();
        write_varint(&mut data, field.len() as u64);
        data.extend_from_slice(field);
        let mut entry = Entry {
            data,
            count: 0,
            next: NIL,
        };
        entry.append(values);
        fit_to_size_class(&mut entry.data);
        entry
    }

    /// A field from its record, taking the buffer over as its storage, after
    /// checking every byte of it: the values well-formed and `value_count` of
    /// them, at least one and at most `MAX_VALUES`.
    #[inline]
    pub(super) fn from_record(record: Vec<u8>, value_count: u64) -> Result<Entry, InvalidEncoding> {
        if value_count == 0 || value_count > u64::from(MAX_VALUES) {
            return Err(InvalidEncoding);
        }
        let (name_len, header) = read_varint(&record).ok_or(InvalidEncoding)?;
        let values_offset = usize::try_from(name_len)
            .ok()
            .and_then(|len| len.checked_add(header))
            .filter(|&offset| offset <= record.len())
            .ok_or(InvalidEncoding)?;
        let count = count_packed_values(&record[values_offset..])?;
        if count as u64 != value_count {
            return Err(InvalidEncoding);
        }
        let mut entry = Entry {
            data: record,
            count: count as u32,
            next: NIL,
        };
        if count >= INDEX_FROM {
            entry.build_index();
        }
        Ok(entry)
    }

    /// Number of values.
    #[inline]
    pub(super) fn len(&self) -> usize {
        (self.count & MAX_VALUES) as usize
    }

    #[inline]
    pub(super) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= MAX_VALUES as usize);
        self.count = (self.count & GAP_FLAG) | len as u32;
    }

    #[inline]
    pub(super) fn add_to_count(&mut self, added: usize) {
        self.check_room_for(added);
        self.set_len(self.len() + added);
    }

    /// Panics (the command replies an internal error) unless `added` more
    /// values fit in the field.
    #[inline]
    pub(super) fn check_room_for(&self, added: usize) {
        assert!(
            self.len() + added <= MAX_VALUES as usize,
            "a MultiMap field holds at most 2^31 - 1 values"
        );
    }

    /// Where the record starts in `data`.
    #[inline]
    pub(super) fn record_start(&self) -> usize {
        if self.count & GAP_FLAG == 0 {
            0
        } else {
            self.written_record_start()
        }
    }

    /// Long fields have free bytes before their record (for their
    /// checkpoints), so every lookup of one reads this: offsets under 1 MiB
    /// take one to three bytes, decoded in line; longer ones out of line.
    /// Three bytes are those of fields of over 65,536 values (whose
    /// checkpoints take 8 KiB), and of queues, popped from the front.
    #[inline(always)]
    fn written_record_start(&self) -> usize {
        let low = |at: usize| usize::from(self.data[at] & 0x7f) << (7 * at);
        let word = if self.data[0] < 0x80 {
            usize::from(self.data[0])
        } else if self.data[1] < 0x80 {
            low(0) | usize::from(self.data[1]) << 7
        } else if self.data[2] < 0x80 {
            low(0) | low(1) | usize::from(self.data[2]) << 14
        } else {
            self.long_record_offset()
        };
        word >> 1
    }

    #[inline(never)]
    fn long_record_offset(&self) -> usize {
        read_varint(&self.data).expect("record offset").0 as usize
    }

    /// Moves where the record starts, keeping the checkpoints if there are
    /// any; the bytes from `start` on must be the record already, and those
    /// before it as they were (a record moved to 0 has no checkpoints: it
    /// may have written over the flag).
    #[inline]
    pub(super) fn set_record_start(&mut self, start: usize) {
        let indexed = start != 0 && self.is_indexed();
        self.set_layout(start, indexed);
    }

    /// Says where the record starts and whether checkpoints lie before it
    /// (never for a record at 0).
    #[inline]
    pub(super) fn set_layout(&mut self, start: usize, indexed: bool) {
        if start == 0 {
            debug_assert!(!indexed);
            self.count &= MAX_VALUES;
        } else {
            // From 1 on, twice a number plus one still takes no more LEB128
            // bytes than the number itself, so the offset always fits in the
            // bytes before the record (and in the 8 bytes checkpoints leave it).
            put_varint(&mut self.data, 2 * start as u64 + u64::from(indexed));
            self.count |= GAP_FLAG;
        }
    }

    /// Whether checkpoints lie before the record: the low bit of the first
    /// byte of the record's offset, as LEB128 writes it.
    #[inline]
    pub(super) fn is_indexed(&self) -> bool {
        self.count & GAP_FLAG != 0 && self.data[0] & 1 != 0
    }

    /// The field's record: what RDB saves, and what `stored_bytes` counts.
    #[inline(always)]
    pub(super) fn record(&self) -> &[u8] {
        if self.count & GAP_FLAG == 0 {
            &self.data
        } else {
            &self.data[self.written_record_start()..]
        }
    }

    /// Where the values start in `data`, after the record's name.
    #[inline]
    pub(super) fn values_offset(&self) -> usize {
        self.values_offset_from(self.record_start())
    }

    /// `values_offset` of a record known to start at `start`.
    #[inline]
    pub(super) fn values_offset_from(&self, start: usize) -> usize {
        start + name_bounds(&self.data[start..]).end
    }

    #[inline(always)]
    pub(super) fn field(&self) -> &[u8] {
        let record = self.record();
        &record[name_bounds(record)]
    }

    /// Whether the field is named `name`: what every lookup asks of each
    /// entry in its bucket.
    #[inline(always)]
    pub(super) fn is_named(&self, name: &[u8]) -> bool {
        same_bytes(self.field(), name)
    }

    #[inline]
    pub(super) fn values(&self) -> Values<'_> {
        let record = self.record();
        let packed = &record[name_bounds(record).end..];
        Values {
            count: self.len(),
            packed,
            checkpoints: if self.count & GAP_FLAG == 0 {
                Checkpoints::NONE
            } else {
                self.checkpoints(self.data.len() - packed.len())
            },
        }
    }

    /// Appends values; returns how many.
    #[inline]
    pub(super) fn append<'v>(&mut self, values: impl IntoIterator<Item = &'v [u8]>) -> usize {
        let values = values.into_iter();
        // Refused before anything changes where the number of values is known
        // up front, as it is for a command's arguments: a field past the
        // limit would not count the values it holds.
        if let (known, Some(exact)) = values.size_hint() {
            if known == exact {
                self.check_room_for(known);
            }
        }
        let mut appended = 0;
        for value in values {
            let needed = encoded_value_len(value);
            if self.data.capacity() - self.data.len() < needed {
                self.make_room_at_end(needed);
            }
            encode_value(&mut self.data, value);
            appended += 1;
        }
        self.add_to_count(appended);
        // Fields this short have no checkpoints and are not about to.
        if self.len() >= INDEX_BELOW {
            self.index_appended(appended);
        }
        appended
    }

    /// Grows the buffer in size classes, as for any vector, unless free bytes
    /// before the record can be reused instead.
    pub(super) fn make_room_at_end(&mut self, needed: usize) {
        if self.count & GAP_FLAG == 0 {
            reserve_in_size_classes(&mut self.data, needed);
        } else {
            self.relayout(0, needed);
        }
    }

    /// Leaves at least `front` free bytes before the record (after its
    /// checkpoints, if any) and `back` after it, plus slack split evenly
    /// between both ends; returns where the record starts now. The record
    /// moves inside its buffer when that leaves slack of a quarter of what it
    /// needs, else to a new buffer with half of it: each move costs the
    /// record's length, and is paid for by the eighth of that length added at
    /// one end before either end needs another.
    pub(super) fn relayout(&mut self, front: usize, back: usize) -> usize {
        let start = self.record_start();
        let record_len = self.data.len() - start;
        let kept = self.checkpoints_len();
        let needed = kept + record_len + front + back;
        let in_place = self.data.capacity() >= needed + needed / 4;
        let capacity = if in_place {
            self.data.capacity()
        } else {
            heap_alloc(needed + needed / 2)
        };
        let head = kept + front + (capacity - needed) / 2;
        let end = head + record_len;
        if in_place {
            if end > self.data.len() {
                self.data.resize(end, 0);
            }
            self.data.copy_within(start..start + record_len, head);
            self.data.truncate(end);
        } else {
            let mut moved = Vec::with_capacity(capacity);
            moved.extend_from_slice(&self.data[..kept]);
            moved.resize(head, 0);
            moved.extend_from_slice(&self.data[start..]);
            self.data = moved;
        }
        self.set_record_start(head);
        if kept > 0 {
            self.index_record_moved(head as isize - start as isize);
        }
        head
    }

    /// The field holds exactly `values` afterwards; returns how many, and
    /// whether they differ from the values before. Rewrites the values in the
    /// field's own buffer: no allocation when the new values fit where the
    /// old ones were. A field left with none is about to be dropped, so its
    /// buffer is not worth shrinking.
    #[inline]
    pub(super) fn replace_values<'v, I>(&mut self, values: I) -> (usize, bool)
    where
        I: IntoIterator<Item = &'v [u8]>,
        I::IntoIter: Clone,
    {
        let offset = self.values_offset();
        let values = values.into_iter();
        // New values that take exactly the bytes of the old ones (one value
        // set to another of its length, the common case) are compared with
        // them and written over them in one pass: no resizing, nothing to
        // give back. While each new value has the length of the old one in
        // its place, only its bytes change and every boundary (so every
        // checkpoint) stays; once one does not, the old boundaries no longer
        // line up with the new ones, and the rest is only written.
        let encoded: usize = values.clone().map(encoded_value_len).sum();
        if offset + encoded == self.data.len() {
            let mut at = offset;
            let mut count = 0;
            let mut changed = false;
            let mut aligned = true;
            for value in values {
                count += 1;
                if aligned {
                    if let Some((old, next)) = value_of_len_at(&self.data, at, value.len()) {
                        if !same_bytes(&self.data[old.clone()], value) {
                            self.data[old].copy_from_slice(value);
                            changed = true;
                        }
                        at = next;
                        continue;
                    }
                    aligned = false;
                    changed = true;
                }
                at += put_value(&mut self.data[at..], value);
            }
            self.check_room_for(count);
            self.set_len(count);
            if !aligned {
                self.index_replaced();
            }
            return (count, changed);
        }
        self.data.truncate(offset);
        self.set_len(0);
        let count = self.append(values);
        if count > 0 {
            self.shrink_if_mostly_unused();
        }
        (count, true)
    }

    /// Removes every occurrence of each of `unwanted`; returns how many values went.
    #[inline]
    pub(super) fn remove_all(&mut self, unwanted: &[&[u8]]) -> usize {
        let set: Option<HashSet<&[u8]>> =
            (unwanted.len() > ARGUMENT_SET_THRESHOLD).then(|| unwanted.iter().copied().collect());
        let is_unwanted = |value: &[u8]| match &set {
            Some(set) => set.contains(value),
            None => unwanted.contains(&value),
        };
        // Compacts in place, front to back: kept values slide down over the
        // removed ones, so removing costs no allocation (as LREM on a listpack).
        let mut read = self.values_offset();
        let mut write = read;
        let mut removed = 0;
        while read < self.data.len() {
            let (value, next) = value_at(&self.data, read);
            if is_unwanted(value) {
                removed += 1;
            } else {
                if write != read {
                    self.data.copy_within(read..next, write);
                }
                write += next - read;
            }
            read = next;
        }
        if removed == 0 {
            return 0;
        }
        self.data.truncate(write);
        self.set_len(self.len() - removed);
        if self.keeps_index() {
            self.index_rewritten();
        }
        self.shrink_if_mostly_unused();
        removed
    }

    /// Gives memory back only once most of it is unused, free bytes before
    /// the record included, so a field that shrinks and grows again does not
    /// reallocate every time. Also where a field that shrank below
    /// `INDEX_BELOW` values gives up its checkpoints.
    #[inline]
    pub(super) fn shrink_if_mostly_unused(&mut self) {
        self.shrink_if_mostly_unused_from(self.record_start());
    }

    /// `shrink_if_mostly_unused` for a record known to start at `start`.
    /// Most calls (a pop among thousands) change nothing, which this tells
    /// in line: a size class is never below the bytes asked for, so a
    /// buffer at most twice the record is at most twice its size class.
    #[inline(always)]
    pub(super) fn shrink_if_mostly_unused_from(&mut self, start: usize) {
        let keeps_layout = self.keeps_index() || !self.is_indexed();
        if keeps_layout && self.data.capacity() <= 2 * (self.data.len() - start) {
            return;
        }
        self.give_memory_back_from(start);
    }

    /// The rest of `shrink_if_mostly_unused_from`, out of line.
    #[inline(never)]
    fn give_memory_back_from(&mut self, start: usize) {
        if !self.keeps_index() && self.is_indexed() {
            self.drop_index();
        }
        let record_len = self.data.len() - start;
        if self.data.capacity() <= 2 * heap_alloc(record_len) {
            return;
        }
        let checkpoints = self.checkpoints_len_for(self.len());
        if self.data.capacity() <= 2 * heap_alloc(checkpoints + record_len) {
            return;
        }
        if checkpoints > 0 {
            self.build_index();
        } else if start == 0 {
            fit_to_size_class(&mut self.data);
        } else {
            let mut compacted = Vec::with_capacity(heap_alloc(record_len));
            compacted.extend_from_slice(&self.data[start..]);
            self.data = compacted;
            self.set_record_start(0);
        }
    }
}

/// Where the name lies in a record. Names shorter than 128 bytes, nearly
/// all of them, have a one-byte length, read without decoding.
#[inline]
fn name_bounds(record: &[u8]) -> std::ops::Range<usize> {
    match record.first() {
        Some(&len) if len < 0x80 => 1..1 + usize::from(len),
        _ => {
            let (len, header) = read_varint(record).expect("field header");
            header..header + len as usize
        }
    }
}

/// `a == b`, with names and values of 4 to 16 bytes compared as two
/// overlapping words rather than through a call to `bcmp`.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let half = |bytes: &[u8], at: usize| {
        u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
    };
    match len {
        8..=16 => word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8),
        4..=7 => half(a, 0) == half(b, 0) && half(a, len - 4) == half(b, len - 4),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multimap::test_support::{collect, pack, vecs};

    fn numbered_values(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| format!("value-{i:04}").into_bytes())
            .collect()
    }

    #[test]
    fn a_field_is_its_name_length_name_and_packed_values() {
        let entry = Entry::new(b"name", [&b"a"[..], b""]);
        // This is the RDB record too: changing it changes the file format.
        assert_eq!(entry.data, [4, b'n', b'a', b'm', b'e', 1, b'a', 2, 0, 1]);
        assert_eq!(entry.field(), b"name");
        assert_eq!(collect(entry.values()), vecs(&[b"a", b""]));
        assert_eq!((entry.len(), entry.next), (2, NIL));
        assert_eq!(entry.data.capacity(), heap_alloc(entry.data.len()));
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_field_takes_a_32_byte_slot_in_the_table() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    #[test]
    fn from_record_adopts_a_record_as_it_was_written() {
        let written = Entry::new(b"f", [&b"x"[..], b"yy", b"x"]);
        let record = written.data.clone();
        let adopted = Entry::from_record(record.clone(), 3).expect("a valid record");
        assert_eq!(adopted.data, record);
        assert_eq!(adopted.field(), b"f");
        assert_eq!(collect(adopted.values()), collect(written.values()));
        assert_eq!((adopted.len(), adopted.next), (3, NIL));
    }

    #[test]
    fn appending_past_the_value_limit_panics_before_changing_anything() {
        let mut entry = Entry::new(b"f", [&b"a"[..]]);
        // Only the count is looked at before appending: the field need not
        // really be that big (though nothing may append to it after, as
        // checkpoints would be built from values it lacks).
        entry.set_len(MAX_VALUES as usize - 1);
        let before = entry.data.clone();
        let appended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            entry.append([&b"x"[..], b"y"])
        }));
        assert!(appended.is_err());
        assert_eq!(entry.data, before);
        assert_eq!(entry.len(), MAX_VALUES as usize - 1);
        entry.add_to_count(1);
        assert_eq!(entry.len(), MAX_VALUES as usize);
    }

    #[test]
    fn a_record_is_found_at_any_offset_its_buffer_writes() {
        let fresh = Entry::new(b"name", [&b"a"[..], b"bc"]);
        // Each side of where the offset takes one more LEB128 byte.
        for start in [1, 63, 64, 8_191, 8_192, (1 << 20) - 1, 1 << 20, 3 << 20] {
            let mut entry = fresh.clone();
            let mut data = vec![0xff; start];
            data.extend_from_slice(&fresh.data);
            entry.data = data;
            entry.set_layout(start, false);
            assert_eq!(entry.record_start(), start);
            assert_eq!(entry.record(), &fresh.data[..], "{start}");
            assert_eq!(entry.values_offset(), start + 5);
            assert_eq!(collect(entry.values()), vecs(&[b"a", b"bc"]));
        }
    }

    #[test]
    fn from_record_refuses_wrong_counts_and_names_past_the_end() {
        let record = Entry::new(b"f", [&b"x"[..], b"y"]).data;
        for wrong_count in [0, 1, 3, u64::from(MAX_VALUES) + 1, u64::MAX] {
            assert!(Entry::from_record(record.clone(), wrong_count).is_err());
        }
        let no_values = Entry::new(b"f", []).data;
        assert!(Entry::from_record(no_values, 0).is_err());
        let name_past_end = [&[9][..], b"short", &pack([&b"v"[..]])].concat();
        assert!(Entry::from_record(name_past_end, 1).is_err());
        assert!(Entry::from_record(Vec::new(), 1).is_err());
    }

    #[test]
    fn remove_all_leaves_the_same_bytes_as_a_field_built_without_them() {
        for unwanted in [vec![&b"a"[..]], vec![&b"a"[..]; ARGUMENT_SET_THRESHOLD + 1]] {
            let mut entry = Entry::new(b"f", [&b"a"[..], b"b", b"a", b"c", b"a"]);
            assert_eq!(entry.remove_all(&unwanted), 3);
            assert_eq!(entry.data, Entry::new(b"f", [&b"b"[..], b"c"]).data);
            assert_eq!(entry.len(), 2);
            assert_eq!(entry.remove_all(&unwanted), 0);
        }
    }

    #[test]
    fn remove_all_gives_memory_back_only_once_most_is_unused() {
        let values = numbered_values(100);
        let mut entry = Entry::new(b"f", values.iter().map(Vec::as_slice));
        let full = entry.data.capacity();
        let first_half: Vec<&[u8]> = values[..50].iter().map(Vec::as_slice).collect();
        assert_eq!(entry.remove_all(&first_half), 50);
        assert_eq!(
            entry.data.capacity(),
            full,
            "half used is not mostly unused"
        );
        let most: Vec<&[u8]> = values[50..95].iter().map(Vec::as_slice).collect();
        assert_eq!(entry.remove_all(&most), 45);
        assert!(entry.data.capacity() <= heap_alloc(entry.data.len()));
        assert_eq!(collect(entry.values()), values[95..]);
    }

    #[test]
    fn replace_values_of_the_same_length_overwrite_the_old_ones() {
        let values = numbered_values(3);
        let mut entry = Entry::new(b"f", values.iter().map(Vec::as_slice));
        let (buffer, capacity) = (entry.data.as_ptr(), entry.data.capacity());
        // 12 + 3 + 21 encoded bytes, as the three 10-byte values take.
        let same_length: Vec<&[u8]> = vec![b"0123456789", b"0", b"0123456789abcdefghi"];
        assert_eq!(entry.replace_values(same_length.iter().copied()), (3, true));
        assert_eq!(
            (entry.data.as_ptr(), entry.data.capacity()),
            (buffer, capacity)
        );
        assert_eq!(collect(entry.values()), same_length);
        assert_eq!(
            entry.data,
            Entry::new(b"f", same_length.iter().copied()).data
        );
    }

    #[test]
    fn replace_values_tells_equal_values_from_equal_lengths() {
        let old: Vec<&[u8]> = vec![b"ab", b"cde", b"f"];
        let mut entry = Entry::new(b"f", old.iter().copied());
        assert_eq!(entry.replace_values(old.iter().copied()), (3, false));
        assert_eq!(collect(entry.values()), old);
        // The same bytes in all, cut where the old values were not.
        let shifted: Vec<&[u8]> = vec![b"ab", b"cd", b"ef"];
        assert_eq!(entry.replace_values(shifted.iter().copied()), (3, true));
        assert_eq!(collect(entry.values()), shifted);
        assert_eq!(entry.data, Entry::new(b"f", shifted.iter().copied()).data);
    }

    #[test]
    fn replace_values_of_the_same_lengths_keep_every_boundary_and_checkpoint() {
        let values = numbered_values(4 * INDEX_FROM);
        let mut entry = Entry::new(b"f", values.iter().map(Vec::as_slice));
        assert!(entry.is_indexed());
        // Every third value changes its bytes, none its length.
        let mut changed = values.clone();
        for value in changed.iter_mut().step_by(3) {
            value.reverse();
        }
        assert_eq!(
            entry.replace_values(changed.iter().map(Vec::as_slice)),
            (changed.len(), true)
        );
        assert_eq!(collect(entry.values()), changed);
        entry.check_checkpoints();
        // The last value one byte longer and the one before one shorter:
        // boundaries move, checkpoints are written again.
        let mut shifted = changed.clone();
        let last = shifted.len() - 1;
        shifted[last - 1].pop();
        shifted[last].push(b'!');
        assert_eq!(
            entry.replace_values(shifted.iter().map(Vec::as_slice)),
            (shifted.len(), true)
        );
        assert_eq!(collect(entry.values()), shifted);
        entry.check_checkpoints();
        assert_eq!(
            entry.replace_values(shifted.iter().map(Vec::as_slice)),
            (shifted.len(), false)
        );
    }

    #[test]
    fn replace_values_rewrites_in_place_when_the_new_values_fit() {
        let values = numbered_values(100);
        let mut entry = Entry::new(b"f", values.iter().map(Vec::as_slice));
        let (buffer, capacity) = (entry.data.as_ptr(), entry.data.capacity());
        let fewer = &values[..60];
        assert_eq!(
            entry.replace_values(fewer.iter().map(Vec::as_slice)),
            (60, true)
        );
        assert_eq!(
            (entry.data.as_ptr(), entry.data.capacity()),
            (buffer, capacity)
        );
        assert_eq!(collect(entry.values()), fewer);
        assert_eq!(entry.replace_values([&b"tiny"[..]]), (1, true));
        assert!(entry.data.capacity() <= heap_alloc(entry.data.len()));
        assert_eq!(entry.data, Entry::new(b"f", [&b"tiny"[..]]).data);
        assert_eq!(entry.replace_values([]), (0, true));
        assert_eq!((entry.len(), entry.field()), (0, &b"f"[..]));
    }

    #[test]
    fn same_bytes_agrees_with_slice_equality() {
        for len in 0..=20usize {
            let a: Vec<u8> = (0..len).map(|byte| byte as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            assert!(!same_bytes(&a, &a[..len.saturating_sub(1)]) || len == 0);
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x80;
                assert!(!same_bytes(&a, &b), "{len} bytes differing at {at}");
            }
        }
    }
}
