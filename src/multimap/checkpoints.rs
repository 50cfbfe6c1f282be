//! Checkpoints: where every `STRIDE`-th value of a long field starts, so that
//! reading at an index (INDEX, RANGE, SET) walks at most `STRIDE / 2` values
//! instead of up to half the field, as a quicklist skips whole nodes.
//!
//! They live in the field's own allocation, in front of the free bytes that
//! come before the record (`entry::GAP_FLAG`), so they cost no block and no
//! slot of their own, move with the field when defragmentation moves it, are
//! counted by MEMORY USAGE, and are never saved: RDB and AOF see the record
//! only, and a field loaded long enough gets them built again.
//!
//! ```text
//! [record offset (LEB128, odd)][base][ring size][ring of offsets][free][record]
//!  0                            8     12         16
//! ```
//!
//! Values are numbered by ordinals: the first value's is `base`, the next
//! one's `base + 1`, and so on (wrapping, as a `u32`). The value whose
//! ordinal is a multiple of `STRIDE` has its offset in the buffer in ring
//! slot `ordinal / STRIDE` modulo the ring's size (a power of two that holds
//! every such value of the field). Offsets count from the buffer's start,
//! which prepending and popping at either end leave where it is: those only
//! move `base` and write the slots of the values they add. Laying the record
//! out again shifts every offset, and changing a value's length those after
//! it; both already cost as much as the field. Only a ring too small for the
//! field's length makes them built again.
//!
//! A field has checkpoints from `INDEX_FROM` values on, and keeps them until
//! it holds fewer than `INDEX_BELOW`, so that pushing and popping around one
//! length does not build them every time. Shorter fields, most of them, pay
//! nothing: their layout is the same as without checkpoints.

#![forbid(unsafe_code)]

use std::iter::StepBy;
use std::ops::Range;

use super::entry::Entry;
use super::packed::{value_at, value_start_before};
use super::size_class::heap_alloc;

/// Ordinals between two checkpoints: a power of two, so that wrapping
/// ordinals stay multiples. Reading walks at most half of it; each checkpoint
/// costs 4 bytes, so 64 values cost at most 8 bytes of ring (half of it when
/// the ring is full).
pub(super) const STRIDE: usize = 64;

/// Values from which a field has checkpoints.
pub(super) const INDEX_FROM: usize = 2 * STRIDE;

/// Values below which a field gives them up.
pub(super) const INDEX_BELOW: usize = STRIDE;

const BASE_AT: usize = 8;
const RING_SIZE_AT: usize = 12;
const RING_AT: usize = 16;
const SLOT: usize = 4;

/// Offsets are 4 bytes: a field whose buffer grows past what they can reach
/// gives its checkpoints up.
const MAX_INDEXED_CAPACITY: usize = u32::MAX as usize;

/// Ring slots for a field of `len` values: any `len` consecutive ordinals
/// hold at most `len / STRIDE` rounded up multiples of `STRIDE`.
fn ring_size_for(len: usize) -> usize {
    len.div_ceil(STRIDE).next_power_of_two()
}

/// Bytes before the free ones for checkpoints with `ring_size` slots.
fn checkpoints_len(ring_size: usize) -> usize {
    RING_AT + SLOT * ring_size
}

/// From the first value from `from` to before `to` whose ordinal is a
/// multiple of `STRIDE` (with `base` the first value's) to `to`.
fn first_checkpointed(base: u32, from: usize, to: usize) -> Range<usize> {
    let ordinal = base.wrapping_add(from as u32) as usize;
    let first = from + (STRIDE - ordinal % STRIDE) % STRIDE;
    first.min(to)..to
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// A field's checkpoints as `Values` reads them: only a read in the middle
/// of a long field looks at them, so finding them costs a lookup nothing.
#[derive(Clone, Copy)]
pub(super) struct Checkpoints<'a> {
    /// The field's buffer, or nothing when it has no checkpoints.
    data: &'a [u8],
    /// Where the values start in `data`: the ring's offsets count from the
    /// buffer's start.
    origin: usize,
}

impl Checkpoints<'_> {
    pub(super) const NONE: Checkpoints<'static> = Checkpoints {
        data: &[],
        origin: 0,
    };

    /// Where value `index` of `packed` starts, walking from its nearer
    /// checkpoint; `None` without checkpoints. `index` must be more than
    /// `STRIDE / 2` values from either end: then the nearer checkpoint is
    /// in the field, at most that far.
    #[inline]
    pub(super) fn offset_of(&self, packed: &[u8], index: usize) -> Option<usize> {
        if self.data.is_empty() {
            return None;
        }
        let ordinal = read_u32(self.data, BASE_AT).wrapping_add(index as u32);
        let past = ordinal as usize % STRIDE;
        let mask = read_u32(self.data, RING_SIZE_AT) as usize - 1;
        let checkpoint = |ordinal: u32| {
            let slot = RING_AT + SLOT * ((ordinal as usize / STRIDE) & mask);
            read_u32(self.data, slot) as usize - self.origin
        };
        if past <= STRIDE / 2 {
            let from = checkpoint(ordinal.wrapping_sub(past as u32));
            Some((0..past).fold(from, |offset, _| value_at(packed, offset).1))
        } else {
            let before = STRIDE - past;
            let from = checkpoint(ordinal.wrapping_add(before as u32));
            Some((0..before).fold(from, |end, _| value_start_before(packed, end)))
        }
    }
}

impl Entry {
    /// The checkpoints of a field with free bytes before its record, whose
    /// values start at `origin` in its buffer.
    #[inline(always)]
    pub(super) fn checkpoints(&self, origin: usize) -> Checkpoints<'_> {
        if !self.is_indexed() {
            return Checkpoints::NONE;
        }
        Checkpoints {
            data: &self.data,
            origin,
        }
    }

    fn ring_size(&self) -> usize {
        read_u32(&self.data, RING_SIZE_AT) as usize
    }

    fn base(&self) -> u32 {
        read_u32(&self.data, BASE_AT)
    }

    fn set_base(&mut self, base: u32) {
        write_u32(&mut self.data, BASE_AT, base);
    }

    /// Whether a field with checkpoints is still long enough to keep them.
    pub(super) fn keeps_index(&self) -> bool {
        self.len() >= INDEX_BELOW
    }

    /// Bytes the checkpoints take before the free ones (0 without).
    pub(super) fn checkpoints_len(&self) -> usize {
        if self.is_indexed() {
            checkpoints_len(self.ring_size())
        } else {
            0
        }
    }

    /// Bytes the checkpoints would take in a field laid out afresh with
    /// `len` values (0 for a field without).
    pub(super) fn checkpoints_len_for(&self, len: usize) -> usize {
        if self.is_indexed() {
            checkpoints_len(ring_size_for(len))
        } else {
            0
        }
    }

    /// The values whose ordinals are multiples of `STRIDE`, from value
    /// `from` on: their indexes.
    fn checkpointed_from(&self, from: usize) -> StepBy<Range<usize>> {
        first_checkpointed(self.base(), from, self.len()).step_by(STRIDE)
    }

    /// Whether value `index` has a slot: its ordinal is a multiple of `STRIDE`.
    fn is_checkpointed(&self, index: usize) -> bool {
        (self.base().wrapping_add(index as u32) as usize).is_multiple_of(STRIDE)
    }

    /// Where the slot of value `index` is (it must have one).
    fn slot_of(&self, index: usize) -> usize {
        debug_assert!(self.is_checkpointed(index));
        let ordinal = self.base().wrapping_add(index as u32) as usize;
        RING_AT + SLOT * ((ordinal / STRIDE) & (self.ring_size() - 1))
    }

    /// Writes the slots of the values from `from` to before `to`, the first
    /// of which starts at `offset`, walking only as far as the last of them.
    fn write_checkpoints(&mut self, from: usize, to: usize, mut offset: usize) {
        let base = self.base();
        let mask = self.ring_size() - 1;
        let mut at = from;
        for index in first_checkpointed(base, from, to).step_by(STRIDE) {
            for _ in at..index {
                offset = value_at(&self.data, offset).1;
            }
            at = index;
            let ordinal = base.wrapping_add(index as u32) as usize;
            let slot = RING_AT + SLOT * ((ordinal / STRIDE) & mask);
            write_u32(&mut self.data, slot, offset as u32);
        }
    }

    /// Lays the field out afresh in a buffer of its size class: checkpoints
    /// for its length first, then the record. Also how a ring too small or
    /// too large is resized, and what a field too big for 4-byte offsets
    /// does not get.
    pub(super) fn build_index(&mut self) {
        self.build_index_for(self.len());
    }

    /// `build_index` with a ring for up to `len` values.
    fn build_index_for(&mut self, len: usize) {
        let ring_size = ring_size_for(len);
        let head = checkpoints_len(ring_size);
        let record = self.record();
        let capacity = heap_alloc(head + record.len());
        if capacity > MAX_INDEXED_CAPACITY {
            if self.is_indexed() {
                self.drop_index();
            }
            return;
        }
        let mut data = Vec::with_capacity(capacity);
        data.resize(head, 0);
        data.extend_from_slice(record);
        self.data = data;
        self.set_layout(head, true);
        write_u32(&mut self.data, RING_SIZE_AT, ring_size as u32);
        self.set_base(0);
        let values = self.values_offset();
        self.write_checkpoints(0, self.len(), values);
    }

    /// Gives the checkpoints up: their bytes become free bytes before the
    /// record.
    pub(super) fn drop_index(&mut self) {
        let start = self.record_start();
        self.set_layout(start, false);
    }

    /// After values were appended: a field reaching `INDEX_FROM` gets
    /// checkpoints; one that has them gets the slots of the `appended` last
    /// values, or a larger ring.
    pub(super) fn index_appended(&mut self, appended: usize) {
        if !self.is_indexed() {
            if self.len() >= INDEX_FROM {
                self.build_index();
            }
            return;
        }
        if self.ring_size() * STRIDE < self.len() {
            self.build_index_for(2 * self.len());
            return;
        }
        // Most appends add no checkpoint; those that do walk back from the
        // end to the first value that gets one.
        let len = self.len();
        let first = first_checkpointed(self.base(), len - appended, len).start;
        if first < len {
            let mut offset = self.data.len();
            for _ in first..len {
                offset = value_start_before(&self.data, offset);
            }
            self.write_checkpoints(first, len, offset);
        }
    }

    /// Before `added` values are prepended: makes the ring hold the longer
    /// field.
    pub(super) fn reserve_checkpoints(&mut self, added: usize) {
        let len = self.len() + added;
        if self.is_indexed() && self.ring_size() * STRIDE < len {
            self.build_index_for(2 * len);
        }
    }

    /// After `added` values were prepended: they take the ordinals before
    /// the first value's, and their slots are written. A field reaching
    /// `INDEX_FROM` gets checkpoints.
    pub(super) fn index_prepended(&mut self, added: usize) {
        if self.is_indexed() {
            self.set_base(self.base().wrapping_sub(added as u32));
            let values = self.values_offset();
            self.write_checkpoints(0, added, values);
        } else if self.len() >= INDEX_FROM {
            self.build_index();
        }
    }

    /// After `popped` values were cut from the front: the first value left
    /// keeps its ordinal, and with it its slot.
    pub(super) fn index_popped_front(&mut self, popped: usize) {
        if self.is_indexed() {
            self.set_base(self.base().wrapping_add(popped as u32));
        }
    }

    /// After the record moved by `delta` bytes in its buffer, or to a new
    /// one: a buffer too big for 4-byte offsets gives the checkpoints up.
    pub(super) fn index_record_moved(&mut self, delta: isize) {
        if self.data.capacity() > MAX_INDEXED_CAPACITY {
            self.drop_index();
        } else {
            self.index_values_moved(0, delta);
        }
    }

    /// After the values from value `from` on moved by `delta` bytes.
    pub(super) fn index_values_moved(&mut self, from: usize, delta: isize) {
        for index in self.checkpointed_from(from) {
            let slot = self.slot_of(index);
            let moved = read_u32(&self.data, slot) as isize + delta;
            write_u32(&mut self.data, slot, moved as u32);
        }
    }

    /// After the values were rewritten in place, boundaries and number
    /// included: checkpoints as for a field of this length, written again.
    pub(super) fn index_replaced(&mut self) {
        if !self.is_indexed() {
            if self.len() >= INDEX_FROM {
                self.build_index();
            }
        } else if !self.keeps_index() {
            self.drop_index();
        } else if self.ring_size() * STRIDE < self.len() {
            self.build_index();
        } else {
            self.index_rewritten();
        }
    }

    /// After values were removed anywhere: every slot is written again,
    /// the first value's ordinal back to 0.
    pub(super) fn index_rewritten(&mut self) {
        if self.is_indexed() {
            self.set_base(0);
            let values = self.values_offset();
            self.write_checkpoints(0, self.len(), values);
        }
    }

    /// Checks the checkpoints against a walk of the values.
    #[cfg(test)]
    pub(super) fn check_checkpoints(&self) {
        assert!(self.keeps_index(), "{} values with checkpoints", self.len());
        let ring_size = self.ring_size();
        assert!(ring_size.is_power_of_two() && ring_size * STRIDE >= self.len());
        assert!(self.checkpoints_len() <= self.record_start());
        let mut offset = self.values_offset();
        for index in 0..self.len() {
            if self.is_checkpointed(index) {
                let slot = self.slot_of(index);
                assert_eq!(read_u32(&self.data, slot) as usize, offset, "value {index}");
            }
            offset = value_at(&self.data, offset).1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multimap::test_support::{
        assert_positions_match, check_invariants, field_values, model_add, model_pop, model_set,
        model_trim, numbered_values, vecs, Rng,
    };
    use crate::multimap::{End, MultiMap, SetError};

    #[test]
    fn short_fields_have_no_checkpoints_and_long_ones_a_few_bytes_of_them() {
        let values = numbered_values(10_000);
        let slices = || values.iter().map(Vec::as_slice);
        let short = Entry::new(b"f", slices().take(INDEX_FROM - 1));
        assert!(!short.is_indexed());
        assert_eq!(short.record_start(), 0, "laid out as without checkpoints");
        for len in [INDEX_FROM, 1_000, 10_000] {
            let long = Entry::new(b"f", slices().take(len));
            assert!(long.is_indexed(), "{len}");
            let ring = long.checkpoints_len() - RING_AT;
            // 4 bytes per checkpoint, at most twice as many slots as needed.
            assert!(ring <= 8 * len.div_ceil(STRIDE), "{ring} bytes for {len}");
            assert_eq!(long.record_start(), long.checkpoints_len());
            assert_eq!(
                long.data.capacity(),
                heap_alloc(long.checkpoints_len() + long.record().len())
            );
            long.check_checkpoints();
        }
    }

    #[test]
    fn reads_in_the_middle_start_from_a_checkpoint() {
        let values = numbered_values(1_000);
        let mut m = MultiMap::new();
        m.insert(b"f", values.iter().map(Vec::as_slice));
        // Every base the ring can have relative to the stride.
        for shift in 0..=STRIDE {
            let field = m.get(b"f").expect("the field");
            for index in [
                STRIDE / 2 + 1,
                500,
                501,
                531,
                532,
                field.len() - STRIDE / 2 - 1,
            ] {
                assert!(field.checkpoints.offset_of(field.packed, index).is_some());
                assert_eq!(field.get(index as i64), Some(&values[shift + index][..]));
            }
            m.pop(b"f", End::Left, 1);
        }
    }

    #[test]
    fn saved_records_are_the_same_and_loaded_ones_get_checkpoints_again() {
        let values = numbered_values(700);
        let mut m = MultiMap::new();
        m.insert(b"f", values.iter().map(Vec::as_slice));
        m.pop(b"f", End::Left, 3);
        m.prepend(b"f", [&b"x"[..]]);
        let (record, count) = m.records().next().expect("one field");
        let fresh = Entry::new(b"f", m.get(b"f").expect("the field").iter());
        assert_eq!(record, fresh.record());
        let mut loaded = MultiMap::new();
        loaded.insert_record(record.to_vec(), count as u64).unwrap();
        assert!(loaded.entries[0].is_indexed());
        assert_eq!(loaded.stored_bytes(), m.stored_bytes());
        check_invariants(&loaded);
        assert_eq!(loaded.get(b"f").unwrap().get(350), Some(&values[352][..]));
    }

    #[test]
    fn replacing_with_values_of_the_same_bytes_but_other_boundaries_keeps_reads_right() {
        // 1,200 bytes of values each time: 300 of 2 bytes, then 400 of 1
        // (the ring still holds them), 600 empty ones (it does not), 100 of
        // 10 and 50 of 22 (too few to keep checkpoints), and 300 again.
        let mut rng = Rng(0x5A3E);
        let mut m = MultiMap::new();
        for (count, len) in [(300, 2), (400, 1), (600, 0), (100, 10), (50, 22), (300, 2)] {
            let values: Vec<Vec<u8>> = (0..count)
                .map(|i| vec![b'a' + (i % 26) as u8; len])
                .collect();
            let replaced = m.replace(b"f", values.iter().map(Vec::as_slice));
            assert_eq!(replaced.len, count);
            check_invariants(&m);
            assert_eq!(m.entries[0].is_indexed(), count >= INDEX_BELOW);
            assert_positions_match(&m, b"f", &values, &mut rng);
        }
    }

    /// A field grown and shrunk through every threshold (`INDEX_BELOW`,
    /// `INDEX_FROM`, each ring size up to 1,500 values) by every
    /// list operation, each followed by the positional reads, checkpoints
    /// checked against the values after each step.
    #[test]
    fn positional_reads_match_a_model_across_the_thresholds() {
        let mut rng = Rng(0xC4EC);
        let pool = vecs(&[
            b"",
            b"a",
            b"\0",
            b"bb",
            &[9u8; 130],
            &[0xfeu8; 200],
            b"value-000",
        ]);
        let mut m = MultiMap::new();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut growing = true;
        let (mut indexed_steps, mut short_steps, mut turns) = (0, 0, 0);
        for op in 0..6_000 {
            let len = model.len();
            if growing && len > 1_500 || !growing && len < STRIDE / 2 {
                growing = !growing;
                turns += 1;
            }
            let batch = |rng: &mut Rng| -> Vec<Vec<u8>> {
                let most = if growing { 40 } else { 4 };
                (0..rng.below(most))
                    .map(|_| pool[rng.below(pool.len() as u64) as usize].clone())
                    .collect()
            };
            fn slices(values: &[Vec<u8>]) -> Vec<&[u8]> {
                values.iter().map(Vec::as_slice).collect()
            }
            let random_index =
                |rng: &mut Rng| rng.below(2 * len as u64 + 3) as i64 - len as i64 - 1;
            match rng.below(if growing { 12 } else { 14 }) {
                0..=2 => {
                    let values = batch(&mut rng);
                    model.extend_from_slice(&values);
                    assert_eq!(m.insert(b"f", slices(&values)), model.len());
                }
                3..=5 => {
                    let values = batch(&mut rng);
                    model.splice(0..0, values.iter().cloned());
                    assert_eq!(m.prepend(b"f", slices(&values)), model.len());
                }
                6 => {
                    let values = batch(&mut rng);
                    let added = model_add(&mut model, &values);
                    assert_eq!(m.add_missing(b"f", slices(&values)), added);
                }
                7 | 8 => {
                    let index = random_index(&mut rng);
                    let value = &pool[rng.below(pool.len() as u64) as usize];
                    let expected = match len {
                        0 => Err(SetError::NoSuchField),
                        _ => model_set(&mut model, index, value),
                    };
                    assert_eq!(m.set_value(b"f", index, value), expected);
                }
                // Removing every copy of one of a few values takes a lot: rarely while growing.
                9 if !growing || rng.below(4) == 0 => {
                    let removed = vecs(&[&pool[rng.below(pool.len() as u64) as usize]]);
                    model.retain(|value| *value != removed[0]);
                    let unwanted = slices(&removed);
                    assert_eq!(m.remove_values(b"f", &unwanted), len - model.len());
                }
                10 => {
                    // Rarely: the field rewritten whole, at about its length.
                    if rng.below(8) == 0 {
                        let values: Vec<Vec<u8>> = (0..len + rng.below(20) as usize)
                            .map(|_| pool[rng.below(pool.len() as u64) as usize].clone())
                            .collect();
                        assert_eq!(m.replace(b"f", slices(&values)).len, values.len());
                        model = values;
                    }
                }
                11 => {
                    // Rarely: saved and loaded, as RDB does.
                    if rng.below(8) == 0 && len > 0 {
                        let (record, count) = m.records().next().expect("one field");
                        let mut loaded = MultiMap::new();
                        loaded.insert_record(record.to_vec(), count as u64).unwrap();
                        m = loaded;
                    }
                }
                12 => {
                    let end = [End::Left, End::Right][rng.below(2) as usize];
                    let count = rng.below(3 * STRIDE as u64) as usize;
                    let popped = (len > 0).then(|| model_pop(&mut model, end, count));
                    assert_eq!(m.pop(b"f", end, count), popped);
                }
                _ => {
                    let from_front = rng.below(STRIDE as u64) as i64;
                    let from_back = rng.below(STRIDE as u64) as i64;
                    let removed = model_trim(&mut model, from_front, -1 - from_back);
                    assert_eq!(m.trim(b"f", from_front, -1 - from_back), removed);
                }
            }
            assert_eq!(field_values(&m, b"f").unwrap_or_default(), model, "op {op}");
            check_invariants(&m);
            assert_positions_match(&m, b"f", &model, &mut rng);
            match m.entries.first() {
                Some(entry) if entry.is_indexed() => indexed_steps += 1,
                _ => short_steps += 1,
            }
        }
        assert!(turns >= 4, "{turns} turns");
        assert!(
            indexed_steps > 1_000 && short_steps > 100,
            "{indexed_steps} {short_steps}"
        );
    }
}
