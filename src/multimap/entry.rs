//! One field as the table stores it: a single allocation holding the field's
//! name and its packed values. That allocation is also the field's RDB record,
//! so a field is saved with one write and loaded without a copy.

#![forbid(unsafe_code)]

use std::collections::HashSet;

use super::leb128::{read_varint, write_varint};
use super::packed::{count_packed_values, encode_value, encoded_value_len, value_at};
use super::size_class::{fit_to_size_class, heap_alloc, reserve_in_size_classes};
use super::{InvalidEncoding, Values, NIL};

/// Above this many values to remove, a hash set beats scanning the argument list per value.
pub(super) const REMOVE_SET_THRESHOLD: usize = 8;

/// One field: its name and its values packed in a single allocation
/// (`[name length][name][value]...`), so a field costs one block however many
/// values it has.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) data: Vec<u8>,
    /// Number of values; fields are capped at u32::MAX values.
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
    /// them, at least one.
    #[inline]
    pub(super) fn from_record(record: Vec<u8>, value_count: u64) -> Result<Entry, InvalidEncoding> {
        let (name_len, header) = read_varint(&record).ok_or(InvalidEncoding)?;
        let values_offset = usize::try_from(name_len)
            .ok()
            .and_then(|len| len.checked_add(header))
            .filter(|&offset| offset <= record.len())
            .ok_or(InvalidEncoding)?;
        let count = count_packed_values(&record[values_offset..])?;
        if count == 0 || count as u64 != value_count {
            return Err(InvalidEncoding);
        }
        let mut entry = Entry {
            data: record,
            count: 0,
            next: NIL,
        };
        entry.add_to_count(count);
        Ok(entry)
    }

    #[inline]
    fn values_offset(&self) -> usize {
        let (len, header) = read_varint(&self.data).expect("field header");
        header + len as usize
    }

    #[inline]
    pub(super) fn field(&self) -> &[u8] {
        let (len, header) = read_varint(&self.data).expect("field header");
        &self.data[header..header + len as usize]
    }

    #[inline]
    pub(super) fn values(&self) -> Values<'_> {
        Values {
            count: self.count as usize,
            packed: &self.data[self.values_offset()..],
        }
    }

    /// Appends values; returns how many.
    #[inline]
    pub(super) fn append<'v>(&mut self, values: impl IntoIterator<Item = &'v [u8]>) -> usize {
        let mut appended = 0;
        for value in values {
            reserve_in_size_classes(&mut self.data, encoded_value_len(value));
            encode_value(&mut self.data, value);
            appended += 1;
        }
        self.add_to_count(appended);
        appended
    }

    #[inline]
    fn add_to_count(&mut self, added: usize) {
        self.count = u32::try_from(self.count as usize + added)
            .expect("a MultiMap field holds at most u32::MAX values");
    }

    /// The field holds exactly `values` afterwards; returns how many. Rewrites
    /// the values in the field's own buffer: no allocation when the new values
    /// fit where the old ones were. A field left with none is about to be
    /// dropped, so its buffer is not worth shrinking.
    #[inline]
    pub(super) fn replace_values<'v>(
        &mut self,
        values: impl IntoIterator<Item = &'v [u8]>,
    ) -> usize {
        let offset = self.values_offset();
        self.data.truncate(offset);
        self.count = 0;
        let count = self.append(values);
        if count > 0 {
            self.shrink_if_mostly_unused();
        }
        count
    }

    /// Removes every occurrence of each of `unwanted`; returns how many values went.
    #[inline]
    pub(super) fn remove_all(&mut self, unwanted: &[&[u8]]) -> usize {
        let set: Option<HashSet<&[u8]>> =
            (unwanted.len() > REMOVE_SET_THRESHOLD).then(|| unwanted.iter().copied().collect());
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
        self.shrink_if_mostly_unused();
        self.count -= removed as u32;
        removed
    }

    /// Gives memory back only once most of it is unused, so a field that
    /// shrinks and grows again does not reallocate every time.
    #[inline]
    fn shrink_if_mostly_unused(&mut self) {
        if self.data.capacity() > 2 * heap_alloc(self.data.len()) {
            fit_to_size_class(&mut self.data);
        }
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
        assert_eq!((entry.count, entry.next), (2, NIL));
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
        assert_eq!((adopted.count, adopted.next), (3, NIL));
    }

    #[test]
    fn from_record_refuses_wrong_counts_and_names_past_the_end() {
        let record = Entry::new(b"f", [&b"x"[..], b"y"]).data;
        for wrong_count in [0, 1, 3, u64::MAX] {
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
        for unwanted in [vec![&b"a"[..]], vec![&b"a"[..]; REMOVE_SET_THRESHOLD + 1]] {
            let mut entry = Entry::new(b"f", [&b"a"[..], b"b", b"a", b"c", b"a"]);
            assert_eq!(entry.remove_all(&unwanted), 3);
            assert_eq!(entry.data, Entry::new(b"f", [&b"b"[..], b"c"]).data);
            assert_eq!(entry.count, 2);
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
    fn replace_values_rewrites_in_place_when_the_new_values_fit() {
        let values = numbered_values(100);
        let mut entry = Entry::new(b"f", values.iter().map(Vec::as_slice));
        let (buffer, capacity) = (entry.data.as_ptr(), entry.data.capacity());
        let fewer = &values[..60];
        assert_eq!(entry.replace_values(fewer.iter().map(Vec::as_slice)), 60);
        assert_eq!(
            (entry.data.as_ptr(), entry.data.capacity()),
            (buffer, capacity)
        );
        assert_eq!(collect(entry.values()), fewer);
        assert_eq!(entry.replace_values([&b"tiny"[..]]), 1);
        assert!(entry.data.capacity() <= heap_alloc(entry.data.len()));
        assert_eq!(entry.data, Entry::new(b"f", [&b"tiny"[..]]).data);
        assert_eq!(entry.replace_values([]), 0);
        assert_eq!((entry.count, entry.field()), (0, &b"f"[..]));
    }
}
