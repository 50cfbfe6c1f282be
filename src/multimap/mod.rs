//! The MultiMap data structure: fields that each hold an ordered list of binary values.
//!
//! This module knows nothing of Redis. Fields and values are arbitrary byte strings.
//!
//! The field table (this file) is a chained hash table kept in two vectors: a dense `Vec` of
//! entries and a power-of-two `Vec` of bucket heads, chains linked through `u32` indices into the
//! entry vector. Keeping entries dense makes full iteration a plain slice walk and keeps
//! per-field overhead small. A field's bucket is the top bits of its hash, so a bucket is a range
//! of hashes: bucket-wise cursors (`scan`) are points in hash space, walk the buckets in memory
//! order, and survive the table being resized between calls.
//!
//! Each field (`entry`) is one allocation holding its name and all its values in the `packed`
//! encoding, the way Redis's listpack packs a small list, so a field costs one block plus a
//! 32-byte slot however many values it holds. A field is also a list (`list`): popped, pushed
//! and trimmed at either end in time that does not grow with its length.

#![forbid(unsafe_code)]

pub use blocks::{MeasureBlocks, MoveBlocks};
use entry::Entry;
use expiry::Expiries;
use hasher::FieldHasher;
pub use list::{End, SetError, TakenValue};
pub use packed::{count_packed_values, InvalidEncoding};
use size_class::reserve_in_size_classes;
pub use size_class::{allocator_probe_requests, learn_allocator_rounding};
pub use timed::{ExpiryChange, ExpiryChanged, FieldExpiry, View, MAX_EXPIRY_MS};
use value_index::{fingerprint, ValueSets};
pub use values::{Values, ValuesIter};

// Each file compiles to its own codegen unit. The helpers that hot paths call
// across files are `#[inline]` so they are still inlined as they were when all
// of this was one file.
mod blocks;
mod checkpoints;
mod entry;
mod expiry;
mod hasher;
mod leb128;
mod list;
mod packed;
mod scan;
mod size_class;
#[cfg(test)]
mod test_support;
mod timed;
mod value_index;
mod values;

/// Marks the end of a bucket chain; also why a map holds at most `u32::MAX - 1` fields.
const NIL: u32 = u32::MAX;

/// Smallest bucket table once one is allocated, so tiny maps don't resize on every change.
const MIN_BUCKETS: usize = 4;

/// The bucket of `hash` in a table of `buckets` buckets (a power of two, at
/// least `MIN_BUCKETS`): the hash's top bits. A bucket is then a range of
/// hashes, the buckets of a table twice as big split it in two neighbours, and
/// SCAN can walk the buckets in memory order (see `scan`).
#[inline]
fn bucket_in(hash: u64, buckets: usize) -> usize {
    (hash >> bucket_shift(buckets)) as usize
}

/// How far a hash shifts right to leave its bucket bits, for a table of
/// `buckets` buckets (a power of two, at least `MIN_BUCKETS`, so less than 64).
#[inline]
fn bucket_shift(buckets: usize) -> u32 {
    u64::BITS - buckets.trailing_zeros()
}

/// A map from fields to non-empty ordered lists of values.
///
/// Invariants: no field has an empty value list; `buckets` is empty (nothing ever inserted) or a
/// power of two no smaller than `MIN_BUCKETS`; every entry is on exactly the chain of bucket
/// `bucket_in(hash(field), buckets.len())`; `totals` sums every entry's share;
/// `sides` is `None` when it would hold nothing.
#[derive(Default)]
pub struct MultiMap {
    entries: Vec<Entry>,
    /// Never grows in place, only rebuilt: a boxed slice, one word smaller than a `Vec`.
    buckets: Box<[u32]>,
    totals: Totals,
    hasher: FieldHasher,
    /// What only some maps need, behind one pointer so that the others pay
    /// that pointer and no work.
    sides: Option<Box<Sides>>,
}

/// The tables a map keeps beside its entries once some field needs them,
/// each following the entries as they move (`removed`).
#[derive(Default)]
struct Sides {
    /// The fields' expiry times, once any field has one (see `expiry`).
    expiries: Option<Expiries>,
    /// The value sets of long fields ADD was given (see `value_index`).
    value_sets: ValueSets,
}

impl Sides {
    fn is_empty(&self) -> bool {
        self.expiries.is_none() && self.value_sets.is_empty()
    }
}

impl Clone for MultiMap {
    /// A copy without value sets: like a loaded map, it builds them again
    /// at its next ADDs, and until then costs no more than its data.
    fn clone(&self) -> Self {
        let expiries = self.expiries().cloned();
        MultiMap {
            entries: self.entries.clone(),
            buckets: self.buckets.clone(),
            totals: self.totals,
            hasher: self.hasher.clone(),
            sides: expiries.map(|expiries| {
                Box::new(Sides {
                    expiries: Some(expiries),
                    value_sets: ValueSets::default(),
                })
            }),
        }
    }
}

/// What `MultiMap::replace` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    /// Values the field holds now.
    pub len: usize,
    /// Whether the values changed, or an expiry went.
    pub changed: bool,
}

/// Running sums over the entries, so that counting is O(1). Every change to
/// an entry is bracketed by `remove` and `add` of its share, whatever the
/// change did to it.
#[derive(Clone, Copy, Default)]
struct Totals {
    values: usize,
    /// Record lengths (see `MultiMap::stored_bytes`).
    bytes: usize,
}

impl Totals {
    #[inline]
    fn add(&mut self, entry: &Entry) {
        self.values += entry.len();
        self.bytes += entry.record().len();
    }

    #[inline]
    fn remove(&mut self, entry: &Entry) {
        self.values -= entry.len();
        self.bytes -= entry.record().len();
    }

    /// After `values` values taking `bytes` of a record were cut from it:
    /// what `remove` and `add` around the cut would do, without measuring
    /// the record twice.
    #[inline]
    fn cut(&mut self, values: usize, bytes: usize) {
        self.values -= values;
        self.bytes -= bytes;
    }
}

impl MultiMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of fields, O(1).
    pub fn field_count(&self) -> usize {
        self.entries.len()
    }

    /// Number of values over all fields, O(1).
    pub fn value_count(&self) -> usize {
        self.totals.values
    }

    /// Bytes of data held, O(1): the fields' records (see `records`), each name and value with
    /// its length prefixes (one byte more for a name under 128 bytes, two more for a value under
    /// 127 bytes). The data as stored and as RDB saves it, whatever the allocator; what holding
    /// it costs is `mem_usage`.
    pub fn stored_bytes(&self) -> usize {
        self.totals.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, field: &[u8]) -> Option<Values<'_>> {
        self.find(field, self.hash(field))
            .map(|i| self.entries[i].values())
    }

    /// Appends values (in order) to `field`, creating it; returns values in the field afterwards.
    /// Inserting zero values into a missing field does not create it (returns 0).
    pub fn insert<'v>(
        &mut self,
        field: &[u8],
        values: impl IntoIterator<Item = &'v [u8]>,
    ) -> usize {
        let hash = self.hash(field);
        match self.find(field, hash) {
            Some(i) => {
                let entry = &mut self.entries[i];
                self.totals.remove(entry);
                let appended = entry.append(values);
                self.totals.add(entry);
                self.values_added(i, End::Right, appended)
            }
            None => self.add_field(hash, field, values),
        }
    }

    /// Each field as its record (name length, name, packed values, as the
    /// field's single allocation holds them) with its number of values. RDB
    /// stores exactly this.
    pub fn records(&self) -> impl ExactSizeIterator<Item = (&[u8], usize)> {
        self.entries.iter().map(|e| (e.record(), e.len()))
    }

    /// Adds a field from a record as `records` returns it, taking the buffer
    /// over as the field's storage, after checking every byte of it: the name
    /// must be new, the values well-formed and `value_count` of them, at least
    /// one. On error the map is unchanged.
    pub fn insert_record(
        &mut self,
        record: Vec<u8>,
        value_count: u64,
    ) -> Result<(), InvalidEncoding> {
        let entry = Entry::from_record(record, value_count)?;
        let hash = self.hash(entry.field());
        if self.find(entry.field(), hash).is_some() {
            return Err(InvalidEncoding);
        }
        self.push_entry(hash, entry);
        Ok(())
    }

    /// The field holds exactly these values afterwards (an empty iterator
    /// removes the field), and no expiry, as HSET leaves a field; in one
    /// lookup. Values equal to the field's are left as they are.
    pub fn replace<'v, I>(&mut self, field: &[u8], values: I) -> Replaced
    where
        I: IntoIterator<Item = &'v [u8]>,
        I::IntoIter: Clone,
    {
        let hash = self.hash(field);
        let Some(i) = self.find(field, hash) else {
            let len = self.add_field(hash, field, values);
            return Replaced {
                len,
                changed: len > 0,
            };
        };
        let persisted = self.clear_expiry(i);
        let entry = &mut self.entries[i];
        self.totals.remove(entry);
        let (len, changed) = entry.replace_values(values);
        self.totals.add(entry);
        if len == 0 {
            self.remove_entry(i);
        } else if changed {
            self.values_changed(i);
        }
        Replaced {
            len,
            changed: changed || persisted,
        }
    }

    /// Removes every occurrence of each given value; drops the field when it empties; returns how
    /// many values were removed.
    pub fn remove_values(&mut self, field: &[u8], values: &[&[u8]]) -> usize {
        self.change_field(field, |entry| entry.remove_all(values))
            .unwrap_or(0)
    }

    /// Removes the field with all its values; true if it existed.
    pub fn remove_field(&mut self, field: &[u8]) -> bool {
        match self.find(field, self.hash(field)) {
            Some(i) => {
                self.remove_entry(i);
                true
            }
            None => false,
        }
    }

    /// Every field once, in an unspecified order that is stable while the map is unchanged.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], Values<'_>)> {
        self.entries.iter().map(|e| (e.field(), e.values()))
    }

    /// Runs `change` on the field's entry, keeping the totals right and
    /// dropping the field if it is left without values; `None` if there is no
    /// such field.
    fn change_field<R>(&mut self, field: &[u8], change: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let i = self.find(field, self.hash(field))?;
        Some(self.change_entry(i, false, change))
    }

    /// Runs `change` on entry `i` as `change_field` does, for a change that
    /// `value_set_kept` says its value set, if any, followed.
    fn change_entry<R>(
        &mut self,
        i: usize,
        value_set_kept: bool,
        change: impl FnOnce(&mut Entry) -> R,
    ) -> R {
        let entry = &mut self.entries[i];
        self.totals.remove(entry);
        let result = change(entry);
        self.totals.add(entry);
        self.entry_changed_keeping(i, value_set_kept);
        result
    }

    /// After entry `i` changed, the totals already right: drops it if it
    /// is left without values, else as `values_changed`, keeping its value
    /// set if `value_set_kept` says the change followed it.
    #[inline]
    fn entry_changed_keeping(&mut self, i: usize, value_set_kept: bool) {
        if self.entries[i].len() == 0 {
            self.remove_entry(i);
        } else {
            self.values_changed_keeping(i, value_set_kept);
        }
    }

    /// After entry `i`'s values changed: tells the expiry order of its new
    /// number of values, which it returns, and drops its value set, if any,
    /// which the change did not follow. Every change goes through here
    /// unless it kept the set exact itself.
    #[inline]
    fn values_changed(&mut self, i: usize) -> usize {
        self.values_changed_keeping(i, false)
    }

    #[inline]
    fn values_changed_keeping(&mut self, i: usize, value_set_kept: bool) -> usize {
        let len = self.entries[i].len();
        if let Some(sides) = &mut self.sides {
            if let Some(expiries) = &mut sides.expiries {
                expiries.values_changed(i, len);
            }
            if !value_set_kept && sides.value_sets.forget(i) && sides.is_empty() {
                self.sides = None;
            }
        }
        len
    }

    /// After `added` values were put at `end` of entry `i` (the totals
    /// already right): its value set, if any, counts them, and the rest is
    /// as `values_changed`. Returns how many values it holds.
    #[inline]
    fn values_added(&mut self, i: usize, end: End, added: usize) -> usize {
        if let Some(set) = self.sides.as_mut().and_then(|s| s.value_sets.get_mut(i)) {
            let values = self.entries[i].values();
            let hasher = &self.hasher;
            match end {
                End::Left => {
                    set.prepended(added);
                    for (index, value) in values.iter().take(added).enumerate() {
                        set.add(fingerprint(hasher, value), set.position_of(index));
                    }
                }
                End::Right => {
                    let last = values.len() - 1;
                    for (back, value) in values.iter().rev().take(added).enumerate() {
                        set.add(fingerprint(hasher, value), set.position_of(last - back));
                    }
                }
            }
        }
        self.values_changed_keeping(i, true)
    }

    /// After the values `taken` were cut off entry `i`'s `end` (the totals
    /// already right): its value set, if any, no longer counts them, and
    /// the rest is as `entry_changed`.
    #[inline]
    fn values_taken<'v>(&mut self, i: usize, end: End, taken: impl Iterator<Item = &'v [u8]>) {
        let mut kept = true;
        if let Some(set) = self.sides.as_mut().and_then(|s| s.value_sets.get_mut(i)) {
            // A set that missed a value is a bug, yet no reason to fail a
            // pop already done: dropped, it is built again when needed.
            kept = set.forget_cut(&self.hasher, taken, end == End::Left);
        }
        self.entry_changed_keeping(i, kept);
    }

    /// Before `front` values are cut off entry `i`'s front and `back` off
    /// its back: its value set, if any, forgets them, unless the cut takes
    /// most of the field, after which reading what is left to build the set
    /// again costs less. Whether the set follows the cut.
    fn values_cut(&mut self, i: usize, front: usize, back: usize) -> bool {
        let Some(set) = self.sides.as_mut().and_then(|s| s.value_sets.get_mut(i)) else {
            return true;
        };
        let values = self.entries[i].values();
        if (front + back) * 2 > values.len() {
            return false;
        }
        set.forget_cut(&self.hasher, values.iter().take(front), true)
            & set.forget_cut(&self.hasher, values.iter().rev().take(back), false)
    }

    /// The expiry tables, if any field has an expiry.
    #[inline]
    fn expiries(&self) -> Option<&Expiries> {
        self.sides.as_deref()?.expiries.as_ref()
    }

    /// Drops the side tables once they hold nothing.
    fn drop_empty_sides(&mut self) {
        if self.sides.as_ref().is_some_and(|sides| sides.is_empty()) {
            self.sides = None;
        }
    }

    fn hash(&self, field: &[u8]) -> u64 {
        self.hasher.hash(field)
    }

    fn bucket_of(&self, hash: u64) -> usize {
        bucket_in(hash, self.buckets.len())
    }

    fn find(&self, field: &[u8], hash: u64) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut idx = self.buckets[self.bucket_of(hash)];
        while idx != NIL {
            let entry = &self.entries[idx as usize];
            if entry.is_named(field) {
                return Some(idx as usize);
            }
            idx = entry.next;
        }
        None
    }

    /// Adds a field known to be absent, unless there are no values for it;
    /// returns how many values it holds.
    fn add_field<'v>(
        &mut self,
        hash: u64,
        field: &[u8],
        values: impl IntoIterator<Item = &'v [u8]>,
    ) -> usize {
        let entry = Entry::new(field, values);
        let count = entry.len();
        if count > 0 {
            self.push_entry(hash, entry);
        }
        count
    }

    /// Adds an entry for a field known to be absent.
    fn push_entry(&mut self, hash: u64, mut entry: Entry) {
        if self.buckets.is_empty() {
            self.buckets = vec![NIL; MIN_BUCKETS].into_boxed_slice();
        }
        let idx = u32::try_from(self.entries.len())
            .ok()
            .filter(|&i| i != NIL)
            .expect("a MultiMap holds at most u32::MAX - 1 fields");
        let bucket = self.bucket_of(hash);
        self.totals.add(&entry);
        entry.next = self.buckets[bucket];
        reserve_in_size_classes(&mut self.entries, 1);
        self.entries.push(entry);
        if let Some(expiries) = self.sides.as_mut().and_then(|s| s.expiries.as_mut()) {
            expiries.pushed();
        }
        self.buckets[bucket] = idx;
        if self.entries.len() > self.buckets.len() {
            self.resize(self.buckets.len() * 2);
        }
    }

    /// Removes entry `i`, moving the last entry into its slot so `entries` stays dense.
    /// Out of line: the changes that may remove a field (pops, removals)
    /// mostly do not, and stay small enough to inline what they do instead.
    #[inline(never)]
    fn remove_entry(&mut self, i: usize) {
        self.unlink_entry(i);
        self.shrink_if_sparse();
    }

    /// Removes entry `i` as `remove_entry` does, leaving the table its size.
    fn unlink_entry(&mut self, i: usize) {
        let bucket = self.bucket_of(self.hash(self.entries[i].field()));
        let next = self.entries[i].next;
        self.relink(bucket, i as u32, next);
        let last = self.entries.len() - 1;
        if i != last {
            let last_bucket = self.bucket_of(self.hash(self.entries[last].field()));
            self.relink(last_bucket, last as u32, i as u32);
        }
        if let Some(sides) = &mut self.sides {
            if let Some(expiries) = &mut sides.expiries {
                expiries.removed(i, last);
                if expiries.is_empty() {
                    sides.expiries = None;
                }
            }
            sides.value_sets.removed(i, last);
            self.drop_empty_sides();
        }
        let removed = self.entries.swap_remove(i);
        self.totals.remove(&removed);
    }

    /// Halves the table while fewer than one bucket in eight holds a field,
    /// rehashing every field left: O(fields).
    fn shrink_if_sparse(&mut self) {
        let mut target = self.buckets.len();
        while target > MIN_BUCKETS && self.entries.len() < target / 8 {
            target /= 2;
        }
        if target != self.buckets.len() {
            self.resize(target);
            // Hand back the entry storage too, keeping room to grow to the new table size.
            self.entries.shrink_to(target);
        }
    }

    /// Makes the link in `bucket`'s chain that points at entry `from` point at `to` instead.
    fn relink(&mut self, bucket: usize, from: u32, to: u32) {
        if self.buckets[bucket] == from {
            self.buckets[bucket] = to;
            return;
        }
        let mut idx = self.buckets[bucket] as usize;
        while self.entries[idx].next != from {
            idx = self.entries[idx].next as usize;
        }
        self.entries[idx].next = to;
    }

    /// Rebuilds the table with `new_len` buckets (a power of two), rehashing every field: no
    /// hash is cached per field, which keeps small fields small.
    fn resize(&mut self, new_len: usize) {
        debug_assert!(new_len.is_power_of_two() && new_len >= MIN_BUCKETS);
        let mut buckets = vec![NIL; new_len];
        for i in 0..self.entries.len() {
            let bucket = bucket_in(self.hash(self.entries[i].field()), new_len);
            self.entries[i].next = buckets[bucket];
            // `i` fits in u32: `push_entry` refuses to index past NIL.
            buckets[bucket] = i as u32;
        }
        self.buckets = buckets.into_boxed_slice();
    }
}

#[cfg(test)]
mod tests {
    use super::entry::ARGUMENT_SET_THRESHOLD;
    use super::leb128::varint_len;
    use super::packed::encoded_value_len;
    use super::test_support::{
        assert_positions_match, check_invariants, collect, field_values, model_add, model_index,
        model_pop, model_positions, model_set, model_trim, numbered, vecs, Rng,
    };
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn new_map_is_empty() {
        let m = MultiMap::new();
        assert!(m.is_empty());
        assert_eq!(m.field_count(), 0);
        assert_eq!(m.value_count(), 0);
        assert!(m.get(b"x").is_none());
        assert_eq!(m.iter().len(), 0);
        check_invariants(&m);
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_map_is_one_80_byte_block_before_its_tables() {
        // Each key's value is one such block: growing it costs every key.
        // 80 bytes is a jemalloc size class of its own (72 took it too).
        assert_eq!(size_of::<MultiMap>(), 80);
        // A key with field expiries adds one block of these, 64 bytes as
        // when they held the expiries alone.
        assert_eq!(size_of::<Sides>(), 64);
    }

    #[test]
    fn insert_creates_field_and_returns_its_value_count() {
        let mut m = MultiMap::new();
        assert_eq!(m.insert(b"f", [&b"a"[..], b"b"]), 2);
        assert_eq!(field_values(&m, b"f"), Some(vecs(&[b"a", b"b"])));
        assert_eq!(m.field_count(), 1);
        assert_eq!(m.value_count(), 2);
        assert!(!m.is_empty());
    }

    #[test]
    fn insert_appends_in_order_keeping_duplicates() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b", b"a"]);
        assert_eq!(m.insert(b"f", [&b"b"[..], b"c"]), 5);
        assert_eq!(
            field_values(&m, b"f"),
            Some(vecs(&[b"a", b"b", b"a", b"b", b"c"]))
        );
        assert_eq!(m.field_count(), 1);
        assert_eq!(m.value_count(), 5);
    }

    #[test]
    fn insert_of_no_values_does_not_create_field() {
        let mut m = MultiMap::new();
        assert_eq!(m.insert(b"f", std::iter::empty()), 0);
        assert!(m.get(b"f").is_none());
        assert!(m.is_empty());
        check_invariants(&m);
    }

    #[test]
    fn insert_of_no_values_into_existing_field_returns_its_count() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..]]);
        assert_eq!(m.insert(b"f", std::iter::empty()), 1);
        assert_eq!(m.value_count(), 1);
    }

    #[test]
    fn fields_and_values_are_binary_safe() {
        let mut m = MultiMap::new();
        let fields: [&[u8]; 5] = [b"", b"\0", b"\0\0", b"\xff\xfe", b"a\0b"];
        let values: [&[u8]; 4] = [b"", b"\0", b"\xc3\x28", b"x\0\xff"];
        for f in fields {
            m.insert(f, values);
        }
        assert_eq!(m.field_count(), fields.len());
        for f in fields {
            assert_eq!(field_values(&m, f), Some(vecs(&values)));
        }
        // Prefixes and NUL-extended names must stay distinct fields.
        assert!(m.get(b"a").is_none());
        assert!(m.get(b"\0\0\0").is_none());
        assert!(m.remove_field(b"\0"));
        assert_eq!(field_values(&m, b"\0\0"), Some(vecs(&values)));
        check_invariants(&m);
    }

    #[test]
    fn empty_field_name_and_empty_value_are_ordinary() {
        let mut m = MultiMap::new();
        assert_eq!(m.insert(b"", [&b""[..], b""]), 2);
        assert_eq!(field_values(&m, b""), Some(vecs(&[b"", b""])));
        assert_eq!(m.remove_values(b"", &[b""]), 2);
        assert!(m.get(b"").is_none());
        assert!(m.is_empty());
    }

    #[test]
    fn stored_bytes_follow_every_change() {
        let mut m = MultiMap::new();
        assert_eq!(m.stored_bytes(), 0);
        // A name costs its length plus one; a short value its length plus two.
        m.insert(b"f", [&b"abc"[..], b""]);
        assert_eq!(m.stored_bytes(), 2 + 5 + 2);
        // 300 bytes take a two-byte length and a two-byte back-length.
        m.insert(b"f", [&[7u8; 300][..]]);
        assert_eq!(m.stored_bytes(), 9 + 304);
        m.insert(b"", [&b"\0"[..]]);
        assert_eq!(m.stored_bytes(), 313 + 1 + 3);
        m.replace(b"f", [&b"xy"[..]]);
        assert_eq!(m.stored_bytes(), 2 + 4 + 4);
        m.replace(b"new", [&b"z"[..]]);
        assert_eq!(m.stored_bytes(), 10 + 4 + 3);
        assert_eq!(m.remove_values(b"new", &[b"z"]), 1);
        assert_eq!(m.stored_bytes(), 10);
        assert_eq!(m.replace(b"f", std::iter::empty()).len, 0);
        assert_eq!(m.stored_bytes(), 4);
        assert!(m.remove_field(b""));
        assert_eq!(m.stored_bytes(), 0);
        check_invariants(&m);
    }

    #[test]
    fn replace_sets_exactly_the_given_values() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b", b"c"]);
        let replaced = m.replace(b"f", [&b"x"[..], b"x"]);
        assert_eq!(
            replaced,
            Replaced {
                len: 2,
                changed: true
            }
        );
        assert_eq!(field_values(&m, b"f"), Some(vecs(&[b"x", b"x"])));
        assert_eq!(m.value_count(), 2);
        check_invariants(&m);
    }

    #[test]
    fn replace_creates_missing_field() {
        let mut m = MultiMap::new();
        let replaced = m.replace(b"f", [&b"a"[..]]);
        assert_eq!(
            replaced,
            Replaced {
                len: 1,
                changed: true
            }
        );
        assert_eq!(field_values(&m, b"f"), Some(vecs(&[b"a"])));
        assert_eq!(m.value_count(), 1);
    }

    #[test]
    fn replace_with_the_same_values_changes_nothing_but_an_expiry() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b"]);
        let record = m.entries[0].data.clone();
        let replaced = m.replace(b"f", [&b"a"[..], b"b"]);
        assert_eq!(
            replaced,
            Replaced {
                len: 2,
                changed: false
            }
        );
        assert_eq!(m.entries[0].data, record);
        assert!(m.set_expiry(b"f", 1_000));
        let replaced = m.replace(b"f", [&b"a"[..], b"b"]);
        assert_eq!(
            replaced,
            Replaced {
                len: 2,
                changed: true
            }
        );
        assert_eq!(m.view(1).expiry(b"f"), FieldExpiry::Never);
        assert!(m.set_expiry(b"f", 1_000));
        assert_eq!(
            m.replace(b"f", [&b"c"[..]]),
            Replaced {
                len: 1,
                changed: true
            }
        );
        assert_eq!(m.view(1).expiry(b"f"), FieldExpiry::Never);
        check_invariants(&m);
    }

    #[test]
    fn replace_with_no_values_removes_field() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b"]);
        m.insert(b"g", [&b"c"[..]]);
        assert_eq!(m.replace(b"f", std::iter::empty()).len, 0);
        assert!(m.get(b"f").is_none());
        assert_eq!(m.field_count(), 1);
        assert_eq!(m.value_count(), 1);
        check_invariants(&m);
    }

    #[test]
    fn replace_with_no_values_on_missing_field_creates_nothing() {
        let mut m = MultiMap::new();
        let replaced = m.replace(b"f", std::iter::empty());
        assert_eq!(
            replaced,
            Replaced {
                len: 0,
                changed: false
            }
        );
        assert!(m.is_empty());
    }

    #[test]
    fn remove_values_removes_every_occurrence() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b", b"a", b"c", b"a"]);
        assert_eq!(m.remove_values(b"f", &[b"a"]), 3);
        assert_eq!(field_values(&m, b"f"), Some(vecs(&[b"b", b"c"])));
        assert_eq!(m.value_count(), 2);
    }

    #[test]
    fn remove_values_counts_each_removed_value_once_despite_repeated_arguments() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"a", b"b"]);
        assert_eq!(m.remove_values(b"f", &[b"a", b"a", b"a"]), 2);
        assert_eq!(field_values(&m, b"f"), Some(vecs(&[b"b"])));
    }

    #[test]
    fn remove_values_ignores_absent_values() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..]]);
        assert_eq!(m.remove_values(b"f", &[b"zz", b""]), 0);
        assert_eq!(m.remove_values(b"f", &[]), 0);
        assert_eq!(field_values(&m, b"f"), Some(vecs(&[b"a"])));
    }

    #[test]
    fn remove_values_on_missing_field_returns_zero() {
        let mut m = MultiMap::new();
        assert_eq!(m.remove_values(b"f", &[b"a"]), 0);
        m.insert(b"g", [&b"a"[..]]);
        assert_eq!(m.remove_values(b"f", &[b"a"]), 0);
        assert_eq!(m.value_count(), 1);
    }

    #[test]
    fn remove_values_drops_emptied_field() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b", b"a"]);
        m.insert(b"g", [&b"a"[..]]);
        assert_eq!(m.remove_values(b"f", &[b"a", b"b"]), 3);
        assert!(m.get(b"f").is_none());
        assert_eq!(m.field_count(), 1);
        assert_eq!(m.value_count(), 1);
        check_invariants(&m);
    }

    #[test]
    fn remove_values_with_many_arguments_matches_few_argument_behaviour() {
        // Long argument lists take the hash-set path; its result must equal the linear path's.
        let mut m = MultiMap::new();
        let stored: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i % 20]).collect();
        m.insert(b"f", stored.iter().map(Vec::as_slice));
        let to_remove: Vec<Vec<u8>> = (0..30u8).map(|i| vec![i * 2]).collect();
        let args: Vec<&[u8]> = to_remove.iter().map(Vec::as_slice).collect();
        assert!(args.len() > ARGUMENT_SET_THRESHOLD);
        assert_eq!(m.remove_values(b"f", &args), 50);
        let expected: Vec<Vec<u8>> = stored.into_iter().filter(|v| v[0] % 2 == 1).collect();
        assert_eq!(field_values(&m, b"f"), Some(expected));
        assert_eq!(m.value_count(), 50);
    }

    #[test]
    fn remove_field_reports_whether_it_existed() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b"]);
        m.insert(b"g", [&b"c"[..]]);
        assert!(m.remove_field(b"f"));
        assert!(!m.remove_field(b"f"));
        assert!(!m.remove_field(b"missing"));
        assert!(m.get(b"f").is_none());
        assert_eq!(field_values(&m, b"g"), Some(vecs(&[b"c"])));
        assert_eq!(m.field_count(), 1);
        assert_eq!(m.value_count(), 1);
        check_invariants(&m);
    }

    #[test]
    fn removing_any_field_keeps_the_others_reachable() {
        // Exercises swap-removal from every position, including chain heads, middles and tails.
        for victim in 0..50 {
            let mut m = MultiMap::new();
            for i in 0..50 {
                m.insert(&numbered(i), [&numbered(i)[..]]);
            }
            let target = m.iter().nth(victim).unwrap().0.to_vec();
            assert!(m.remove_field(&target));
            check_invariants(&m);
            for i in 0..50 {
                let f = numbered(i);
                assert_eq!(m.get(&f).is_some(), f != target);
            }
        }
    }

    #[test]
    fn iter_yields_every_field_once_with_exact_size() {
        let mut m = MultiMap::new();
        for i in 0..100 {
            m.insert(&numbered(i), [&b"v"[..]]);
        }
        let it = m.iter();
        assert_eq!(it.len(), 100);
        let fields: HashSet<Vec<u8>> = it.map(|(f, _)| f.to_vec()).collect();
        assert_eq!(fields, (0..100).map(numbered).collect());
    }

    #[test]
    fn iter_order_is_stable_while_unchanged() {
        let mut m = MultiMap::new();
        for i in 0..100 {
            m.insert(&numbered(i), [&b"v"[..]]);
        }
        let first: Vec<&[u8]> = m.iter().map(|(f, _)| f).collect();
        let second: Vec<&[u8]> = m.iter().map(|(f, _)| f).collect();
        assert_eq!(first, second);
    }

    #[test]
    fn table_grows_and_shrinks_within_load_bounds() {
        let mut m = MultiMap::new();
        for i in 0..1000 {
            m.insert(&numbered(i), [&b"v"[..]]);
            check_invariants(&m);
        }
        assert_eq!(m.buckets.len(), 1024);
        for i in 0..1000 {
            assert!(m.remove_field(&numbered(i)));
            check_invariants(&m);
        }
        assert_eq!(m.buckets.len(), MIN_BUCKETS);
        assert!(m.is_empty());
    }

    #[test]
    fn clone_is_independent_of_original() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..]]);
        let mut c = m.clone();
        c.insert(b"f", [&b"b"[..]]);
        c.insert(b"g", [&b"c"[..]]);
        m.remove_field(b"f");
        assert!(m.is_empty());
        assert_eq!(field_values(&c, b"f"), Some(vecs(&[b"a", b"b"])));
        assert_eq!(c.value_count(), 3);
        check_invariants(&c);
    }

    fn records_of(m: &MultiMap) -> Vec<(Vec<u8>, usize)> {
        m.records()
            .map(|(record, count)| (record.to_vec(), count))
            .collect()
    }

    #[test]
    fn records_rebuild_an_identical_map() {
        let mut m = MultiMap::new();
        let big = vec![7u8; 300];
        m.insert(b"f", [&b""[..], b"a", b"\0\xff", &big, b"a"]);
        m.insert(b"", [&b"empty name"[..]]);
        for i in 0..100u32 {
            m.insert(&i.to_le_bytes(), [&i.to_be_bytes()[..]]);
        }
        let mut copy = MultiMap::new();
        for (record, count) in records_of(&m) {
            copy.insert_record(record, count as u64).unwrap();
        }
        check_invariants(&copy);
        assert_eq!(copy.field_count(), m.field_count());
        assert_eq!(copy.value_count(), m.value_count());
        assert_eq!(copy.stored_bytes(), m.stored_bytes());
        for (field, values) in m.iter() {
            assert_eq!(field_values(&copy, field), Some(collect(values)));
        }
    }

    #[test]
    fn insert_record_refuses_any_damage_and_changes_nothing() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"hello"[..], b"world"]);
        let (record, count) = records_of(&m).remove(0);
        let mut damaged: Vec<Vec<u8>> = (0..record.len()).map(|n| record[..n].to_vec()).collect();
        for i in 0..record.len() {
            let mut flipped = record.clone();
            flipped[i] ^= 0x01;
            damaged.push(flipped);
        }
        damaged.push([&record[..], &[0x00][..]].concat());
        for bytes in damaged {
            let mut target = MultiMap::new();
            target.insert(b"kept", [&b"v"[..]]);
            match target.insert_record(bytes.clone(), count as u64) {
                Err(InvalidEncoding) => assert_eq!(target.value_count(), 1),
                // A flip inside the name or a value's bytes keeps the record valid.
                Ok(()) => assert_eq!(target.value_count(), 3, "{bytes:?}"),
            }
            check_invariants(&target);
        }
        let mut target = MultiMap::new();
        assert_eq!(
            target.insert_record(record.clone(), 3),
            Err(InvalidEncoding)
        );
        assert_eq!(
            target.insert_record(record.clone(), 0),
            Err(InvalidEncoding)
        );
        assert_eq!(target.insert_record(record.clone(), 2), Ok(()));
        assert_eq!(
            target.insert_record(record, 2),
            Err(InvalidEncoding),
            "a field twice"
        );
        let empty_field = Entry::new(b"g", []).data;
        assert_eq!(
            target.insert_record(empty_field, 0),
            Err(InvalidEncoding),
            "no values"
        );
        check_invariants(&target);
    }

    fn random_field(rng: &mut Rng, pool: u64) -> Vec<u8> {
        // Little-endian bytes with trailing zeros trimmed: index 0 is the empty field name, and
        // others contain NULs and non-UTF-8 bytes.
        let i = rng.below(pool);
        let bytes = i.to_le_bytes();
        let len = 8 - (i.leading_zeros() / 8) as usize;
        bytes[..len].to_vec()
    }

    fn random_values(rng: &mut Rng, max: u64) -> Vec<Vec<u8>> {
        const POOL: [&[u8]; 7] = [b"", b"a", b"\0", b"\xff\xfe", b"bb", b"a\0", &[b'l'; 200]];
        (0..rng.below(max + 1))
            .map(|_| POOL[rng.below(POOL.len() as u64) as usize].to_vec())
            .collect()
    }

    type Model = HashMap<Vec<u8>, Vec<Vec<u8>>>;

    /// What `stored_bytes` should say for the model's content.
    fn model_bytes(model: &Model) -> usize {
        model
            .iter()
            .map(|(field, values)| {
                let name = varint_len(field.len() as u64) + field.len();
                let values = values.iter().map(|value| encoded_value_len(value));
                name + values.sum::<usize>()
            })
            .sum()
    }

    fn assert_matches_model(m: &MultiMap, model: &Model) {
        check_invariants(m);
        assert_eq!(m.field_count(), model.len());
        assert_eq!(m.value_count(), model.values().map(Vec::len).sum::<usize>());
        assert_eq!(m.stored_bytes(), model_bytes(model));
        let content: Model = m.iter().map(|(f, v)| (f.to_vec(), collect(v))).collect();
        assert_eq!(&content, model);
        for (f, v) in model {
            assert_eq!(field_values(m, f).as_ref(), Some(v));
        }
    }

    #[derive(Clone, Copy)]
    enum Operation {
        Insert,
        Prepend,
        AddMissing,
        Replace,
        RemoveValues,
        Pop,
        Set,
        Trim,
        RemoveField,
        Read,
    }

    const FILLING_WEIGHTS: [(Operation, u64); 10] = [
        (Operation::Insert, 40),
        (Operation::Prepend, 12),
        (Operation::AddMissing, 8),
        (Operation::Replace, 12),
        (Operation::RemoveValues, 8),
        (Operation::Pop, 5),
        (Operation::Set, 5),
        (Operation::Trim, 2),
        (Operation::RemoveField, 3),
        (Operation::Read, 5),
    ];

    const DRAINING_WEIGHTS: [(Operation, u64); 10] = [
        (Operation::Insert, 1),
        (Operation::Prepend, 1),
        (Operation::AddMissing, 1),
        (Operation::Replace, 1),
        (Operation::RemoveValues, 15),
        (Operation::Pop, 15),
        (Operation::Set, 2),
        (Operation::Trim, 10),
        (Operation::RemoveField, 52),
        (Operation::Read, 2),
    ];

    #[test]
    fn random_operations_match_a_simple_model() {
        let mut rng = Rng(0x5EED);
        let mut m = MultiMap::new();
        let mut model = Model::new();
        let (mut grows, mut shrinks) = (0, 0);
        // A scan runs alongside the operations; fields present since it started must be seen.
        let mut scan_cursor = 0;
        let mut scan_owed: HashSet<Vec<u8>> = HashSet::new();
        let mut scan_seen: HashSet<Vec<u8>> = HashSet::new();
        let mut scans_completed = 0;
        for op in 0..100_000u32 {
            // Alternating insert-heavy and remove-heavy phases drive the table through grows
            // and shrinks instead of hovering at one size.
            let filling = (op / 5_000) % 2 == 0;
            let field = random_field(&mut rng, 1024);
            let before = m.buckets.len();
            let weights = if filling {
                FILLING_WEIGHTS
            } else {
                DRAINING_WEIGHTS
            };
            let mut roll = rng.below(weights.iter().map(|&(_, weight)| weight).sum());
            let &(operation, _) = weights
                .iter()
                .find(|&&(_, weight)| {
                    let found = roll < weight;
                    roll = roll.wrapping_sub(weight);
                    found
                })
                .expect("a roll below the total weight");
            let slot = model.entry(field.clone()).or_default();
            let len = slot.len();
            match operation {
                Operation::Insert => {
                    let values = random_values(&mut rng, 3);
                    slot.extend_from_slice(&values);
                    let got = m.insert(&field, values.iter().map(Vec::as_slice));
                    assert_eq!(got, slot.len());
                }
                Operation::Prepend => {
                    let values = random_values(&mut rng, 3);
                    slot.splice(0..0, values.iter().cloned());
                    let got = m.prepend(&field, values.iter().map(Vec::as_slice));
                    assert_eq!(got, slot.len());
                }
                Operation::AddMissing => {
                    let values = random_values(&mut rng, 12);
                    let added = model_add(slot, &values);
                    let got = m.add_missing(&field, values.iter().map(Vec::as_slice));
                    assert_eq!(got, added);
                }
                Operation::Replace => {
                    let values = random_values(&mut rng, 3);
                    let got = m.replace(&field, values.iter().map(Vec::as_slice));
                    assert_eq!(got.len, values.len());
                    assert_eq!(got.changed, *slot != values);
                    *slot = values;
                }
                Operation::RemoveValues => {
                    let values = random_values(&mut rng, 12);
                    let args: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
                    slot.retain(|v| !values.contains(v));
                    assert_eq!(m.remove_values(&field, &args), len - slot.len());
                }
                Operation::Pop => {
                    let end = [End::Left, End::Right][rng.below(2) as usize];
                    let count = rng.below(4) as usize;
                    let popped = (len > 0).then(|| model_pop(slot, end, count));
                    assert_eq!(m.pop(&field, end, count), popped);
                }
                Operation::Set => {
                    let index = rng.below(2 * len as u64 + 3) as i64 - len as i64 - 1;
                    let value = random_values(&mut rng, 1).pop().unwrap_or_default();
                    let expected = match len {
                        0 => Err(SetError::NoSuchField),
                        _ => model_set(slot, index, &value),
                    };
                    assert_eq!(m.set_value(&field, index, &value), expected);
                }
                Operation::Trim => {
                    let mut index = || rng.below(2 * len as u64 + 5) as i64 - len as i64 - 2;
                    let (start, stop) = (index(), index());
                    let removed = model_trim(slot, start, stop);
                    assert_eq!(m.trim(&field, start, stop), removed);
                }
                Operation::RemoveField => {
                    assert_eq!(m.remove_field(&field), len > 0);
                    slot.clear();
                }
                Operation::Read => {
                    let values = m.get(&field);
                    assert_eq!(values.map(collect).unwrap_or_default(), *slot);
                    let index = rng.below(2 * len as u64 + 3) as i64 - len as i64 - 1;
                    assert_eq!(values.and_then(|v| v.get(index)), model_index(slot, index));
                    let value = random_values(&mut rng, 1).pop().unwrap_or_default();
                    let rank = [1, 2, -1, -2][rng.below(4) as usize];
                    let (count, maxlen) = (rng.below(3) as usize, rng.below(4) as usize);
                    assert_eq!(
                        values.map_or_else(Vec::new, |v| v.positions(&value, rank, count, maxlen)),
                        model_positions(slot, &value, rank, count, maxlen)
                    );
                }
            }
            if slot.is_empty() {
                model.remove(&field);
            }
            assert_eq!(field_values(&m, &field).as_ref(), model.get(&field));
            let values = model.get(&field).map_or(&[][..], Vec::as_slice);
            assert_positions_match(&m, &field, values, &mut rng);
            if !model.contains_key(&field) {
                scan_owed.remove(&field);
            }
            let after = m.buckets.len();
            grows += usize::from(after > before);
            shrinks += usize::from(after < before);

            assert_eq!(m.field_count(), model.len());
            assert_eq!(m.is_empty(), model.is_empty());
            if op % 1000 == 0 {
                assert_matches_model(&m, &model);
            }

            if scan_cursor == 0 {
                assert!(scan_owed.is_subset(&scan_seen), "scan missed a field");
                scans_completed += 1;
                scan_owed = model.keys().cloned().collect();
                scan_seen.clear();
            }
            let count = 1 + rng.below(20) as usize;
            scan_cursor = m.scan(scan_cursor, count, |f, v| {
                assert!(!v.is_empty());
                scan_seen.insert(f.to_vec());
            });
        }
        assert_matches_model(&m, &model);
        assert!(
            grows >= 10 && shrinks >= 10,
            "grows {grows} shrinks {shrinks}"
        );
        assert!(
            scans_completed >= 10,
            "only {scans_completed} scans completed"
        );
    }
}
