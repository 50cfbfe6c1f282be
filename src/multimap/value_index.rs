//! Fingerprints of the values of long fields that ADD was given, so that ADD
//! of a value such a field lacks appends it without reading the field.
//!
//! A field's set (`ValueSet`) holds, for each 32-bit fingerprint of its
//! values, how many of its values have it, or where the one value that has
//! it lies: 8 bytes per distinct value at between 3/8 and 3/4 load, nothing
//! per entry. A fingerprint missing from the set proves the value missing
//! from the field; one present may be a collision, so ADD confirms it
//! against the value where the set says it lies, or failing that against
//! every value (see `MultiMap::add_missing`). The map keeps sets by entry
//! position, beside the entries as expiry times are, and only for the
//! fields that have one.
//!
//! The paths that add or take values at a field's ends (append, prepend,
//! pops, a trim of less than half the field) keep its set exact; every
//! other change drops it (see
//! `MultiMap::values_changed`), and the next ADD builds it again. Sets are
//! never saved nor copied: a loaded or copied map has none.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::blocks::{MeasureBlocks, MoveBlocks};
use super::hasher::FieldHasher;
use super::values::Values;

/// Fields shorter than this are scanned by ADD rather than given a set.
/// Measured on 16-byte values: a scan costs 2 ns a value, 70 ns at 32
/// values, while an ADD through a set costs 50 to 75 ns whatever the
/// field's length, and keeping the set costs 10 ns more on each append and
/// pop of the field, and memory (at least `MIN_SLOTS` slots).
pub(super) const INDEX_THRESHOLD: usize = 32;

/// Smallest table of a set: 128 bytes.
const MIN_SLOTS: usize = 16;

/// The fingerprint of a value: 32 bits of the map's keyed hash (so a client
/// that cannot learn the map's secrets cannot choose values that collide),
/// never 0, which marks a free slot.
#[inline]
pub(super) fn fingerprint(hasher: &FieldHasher, value: &[u8]) -> u32 {
    ((hasher.hash(value) >> 32) as u32).max(1)
}

/// Set in a slot's low half when a single value has its fingerprint: the
/// rest is that value's position, not a count.
const ONE_AT: u32 = 1 << 31;
/// Positions are kept modulo 2^31: a field holds fewer values than that.
const POSITION_MASK: u32 = ONE_AT - 1;

/// The fingerprints of one field's values, each with how many values have
/// it, or where the one value that has it lies.
pub(super) struct ValueSet {
    /// Open addressing with linear probing, a power of two of slots, each
    /// holding a fingerprint in its high half and in its low half `ONE_AT`
    /// and a position, or a count (a count of 1 when two values that had it
    /// were one, since the position of the one left is unknown); 0 is a
    /// free slot. A fingerprint's first choice is its low bits: they are
    /// already hashed.
    slots: Vec<u64>,
    /// Slots in use.
    used: usize,
    /// The position of the field's first value. A value keeps its position
    /// while values come and go at the field's ends, the ones a set
    /// follows: prepending moves the base back, popping from the front
    /// moves it on, and no slot changes.
    base: u32,
}

impl ValueSet {
    /// The set of `values`, in one pass over them.
    pub(super) fn of<'v>(
        hasher: &FieldHasher,
        values: impl ExactSizeIterator<Item = &'v [u8]>,
    ) -> ValueSet {
        let mut set = ValueSet {
            slots: vec![0; slots_for(values.len())],
            used: 0,
            base: 0,
        };
        for (index, value) in values.enumerate() {
            set.add(fingerprint(hasher, value), set.position_of(index));
        }
        // Sized for distinct values: many duplicates leave it sparse.
        if set.slots.len() > MIN_SLOTS && set.used * 8 < set.slots.len() {
            set.rebuild(slots_for(set.used));
        }
        set
    }

    /// Where `fingerprint` is, or the free slot where it would go, and
    /// whether it is there.
    #[inline]
    fn find(&self, fingerprint: u32) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut at = fingerprint as usize & mask;
        loop {
            match self.slots[at] {
                0 => return (at, false),
                slot if (slot >> 32) as u32 == fingerprint => return (at, true),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Whether `values`, the field's, hold `value`, whose fingerprint is
    /// `fingerprint`; `None` when only reading them all can tell.
    #[inline]
    pub(super) fn holds(&self, values: Values<'_>, fingerprint: u32, value: &[u8]) -> Option<bool> {
        let (at, found) = self.find(fingerprint);
        if !found {
            return Some(false);
        }
        let low = self.slots[at] as u32;
        if low & ONE_AT == 0 {
            return None;
        }
        let index = (low & POSITION_MASK).wrapping_sub(self.base) & POSITION_MASK;
        values.get(i64::from(index)).map(|held| held == value)
    }

    /// The position of the value at `index` of the field.
    #[inline]
    pub(super) fn position_of(&self, index: usize) -> u32 {
        self.base.wrapping_add(index as u32) & POSITION_MASK
    }

    /// `added` values were put before the first: positions go on backwards.
    #[inline]
    pub(super) fn prepended(&mut self, added: usize) {
        self.base = self.base.wrapping_sub(added as u32) & POSITION_MASK;
    }

    /// `popped` values were cut from the front.
    #[inline]
    pub(super) fn popped_front(&mut self, popped: usize) {
        self.base = self.position_of(popped);
    }

    /// The values `cut` off the field's front (`from_front`) or back are no
    /// longer counted; false if the set did not count one of them, which
    /// leaves it wrong.
    pub(super) fn forget_cut<'v>(
        &mut self,
        hasher: &FieldHasher,
        cut: impl Iterator<Item = &'v [u8]>,
        from_front: bool,
    ) -> bool {
        let mut counted = true;
        let mut forgotten = 0;
        for value in cut {
            counted &= self.remove(fingerprint(hasher, value));
            forgotten += 1;
        }
        if from_front {
            self.popped_front(forgotten);
        }
        debug_assert!(counted, "a value its field's set did not count");
        counted
    }

    /// One value more, at `position`, has `fingerprint`.
    #[inline]
    pub(super) fn add(&mut self, fingerprint: u32, position: u32) {
        let (at, found) = self.find(fingerprint);
        if found {
            let low = self.slots[at] as u32;
            let count = if low & ONE_AT == 0 { low + 1 } else { 2 };
            self.slots[at] = u64::from(fingerprint) << 32 | u64::from(count);
            return;
        }
        self.slots[at] = u64::from(fingerprint) << 32 | u64::from(ONE_AT | position);
        self.used += 1;
        if self.used * 4 > self.slots.len() * 3 {
            self.rebuild(self.slots.len() * 2);
        }
    }

    /// One value fewer has `fingerprint`; false if none had it, which
    /// leaves the set wrong.
    #[inline]
    pub(super) fn remove(&mut self, fingerprint: u32) -> bool {
        let (mut hole, found) = self.find(fingerprint);
        if !found {
            return false;
        }
        let low = self.slots[hole] as u32;
        if low & ONE_AT == 0 && low > 1 {
            self.slots[hole] -= 1;
            return true;
        }
        // Backward-shift deletion: each slot of the run after the hole moves
        // into it if that keeps it reachable from its first choice, so that
        // a free slot still ends every probe.
        self.slots[hole] = 0;
        self.used -= 1;
        let mask = self.slots.len() - 1;
        let mut next = (hole + 1) & mask;
        while self.slots[next] != 0 {
            let home = (self.slots[next] >> 32) as usize & mask;
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.slots[hole] = std::mem::take(&mut self.slots[next]);
                hole = next;
            }
            next = (next + 1) & mask;
        }
        if self.slots.len() > MIN_SLOTS && self.used * 8 < self.slots.len() {
            self.rebuild(self.slots.len() / 2);
        }
        true
    }

    fn rebuild(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, vec![0; slots]);
        for slot in old.into_iter().filter(|&slot| slot != 0) {
            let (at, _) = self.find((slot >> 32) as u32);
            self.slots[at] = slot;
        }
    }
}

#[cfg(test)]
impl ValueSet {
    /// Each fingerprint held and how many values have it, in order.
    fn counts(&self) -> Vec<(u32, u32)> {
        let mut counts: Vec<(u32, u32)> = self
            .slots
            .iter()
            .filter(|&&slot| slot != 0)
            .map(|&slot| match slot as u32 {
                low if low & ONE_AT != 0 => ((slot >> 32) as u32, 1),
                count => ((slot >> 32) as u32, count),
            })
            .collect();
        assert_eq!(counts.len(), self.used, "slots in use miscounted");
        counts.sort_unstable();
        counts
    }
}

/// Slots for `values` distinct values, below 3/4 load.
fn slots_for(values: usize) -> usize {
    (values + values / 3 + 1).next_power_of_two().max(MIN_SLOTS)
}

/// The sets of a map's fields, by entry position.
type Table = HashMap<u32, ValueSet, BuildHasherDefault<PositionHasher>>;

/// The sets of a map's fields, by entry position: boxed, and `None` when
/// there are none, so that the map's side tables of a key with field
/// expiries and no sets stay one 64-byte block.
#[derive(Default)]
pub(super) struct ValueSets {
    sets: Option<Box<Table>>,
}

impl ValueSets {
    pub(super) fn is_empty(&self) -> bool {
        self.sets.is_none()
    }

    #[inline]
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut ValueSet> {
        self.sets.as_mut()?.get_mut(&(i as u32))
    }

    /// Entry `i`'s set, built with `build` if it has none.
    pub(super) fn get_or_build(
        &mut self,
        i: usize,
        build: impl FnOnce() -> ValueSet,
    ) -> &mut ValueSet {
        self.sets
            .get_or_insert_with(Box::default)
            .entry(i as u32)
            .or_insert_with(build)
    }

    /// Entry `i`'s values changed in a way its set did not follow: it has
    /// none from now on. True if it had one.
    #[inline]
    pub(super) fn forget(&mut self, i: usize) -> bool {
        self.take(i).is_some()
    }

    /// Entry `i` is going, and the last entry `last` takes its place.
    pub(super) fn removed(&mut self, i: usize, last: usize) {
        self.forget(i);
        if i != last {
            if let Some(set) = self.take(last) {
                self.get_or_build(i, || set);
            }
        }
    }

    /// Entry `i`'s set, out of the table, which goes once empty.
    #[inline]
    fn take(&mut self, i: usize) -> Option<ValueSet> {
        let table = self.sets.as_mut()?;
        let set = table.remove(&(i as u32));
        if table.is_empty() {
            self.sets = None;
        }
        set
    }

    /// Bytes of heap the sets take: each set's slots as `blocks` measures
    /// them, and the table of sets as the standard library lays it out (a
    /// power of two of buckets, above 8/7 of its capacity, each a `(u32,
    /// ValueSet)` and a control byte, plus a group of control bytes) in its
    /// box, which `blocks` cannot see: they are no `Vec`s.
    pub(super) fn mem_usage(&self, blocks: &impl MeasureBlocks) -> usize {
        let Some(table) = &self.sets else {
            return 0;
        };
        let buckets = (table.capacity() * 8 / 7).next_power_of_two();
        size_of::<Table>()
            + buckets * (size_of::<(u32, ValueSet)>() + 1)
            + CONTROL_GROUP
            + table
                .values()
                .map(|set| blocks.vec_block(&set.slots))
                .sum::<usize>()
    }

    /// Offers each set's slots to `mover`, one block per long field. The
    /// table of sets itself is not offered (`MoveBlocks` moves vectors): it
    /// holds 48 bytes per field of at least `INDEX_THRESHOLD` values.
    pub(super) fn defrag(&mut self, mover: &mut impl MoveBlocks) {
        for set in self.sets.iter_mut().flat_map(|table| table.values_mut()) {
            mover.move_vec(&mut set.slots);
        }
    }

    /// Checks that each set counts exactly its field's values (`values_of`
    /// entry `i`, among `fields` fields), places each value it says it
    /// places, and keeps its load bounds.
    #[cfg(test)]
    pub(super) fn check<'v>(
        &self,
        fields: usize,
        hasher: &FieldHasher,
        values_of: impl Fn(usize) -> Values<'v>,
    ) {
        for (&i, set) in self.sets.iter().flat_map(|table| table.iter()) {
            let i = i as usize;
            assert!(i < fields, "a set for entry {i} of {fields}");
            let values = values_of(i);
            assert!(set.slots.len().is_power_of_two() && set.slots.len() >= MIN_SLOTS);
            assert!(set.used * 4 <= set.slots.len() * 3, "set too full");
            assert!(
                set.slots.len() == MIN_SLOTS || set.used * 8 >= set.slots.len(),
                "set too sparse"
            );
            for (at, &slot) in set.slots.iter().enumerate().filter(|(_, &s)| s != 0) {
                let held = (slot >> 32) as u32;
                assert_eq!(set.find(held), (at, true), "unreachable");
                if slot as u32 & ONE_AT != 0 {
                    let index = (slot as u32).wrapping_sub(set.base) & POSITION_MASK;
                    let value = values
                        .get(i64::from(index))
                        .expect("a position in the field");
                    assert_eq!(fingerprint(hasher, value), held, "misplaced");
                }
            }
            let expected = ValueSet::of(hasher, values.iter());
            assert_eq!(set.counts(), expected.counts(), "the set of entry {i}");
        }
    }

    /// Entries that have a set.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.sets.as_ref().map_or(0, |table| table.len())
    }
}

/// Control bytes the standard table keeps past its buckets.
const CONTROL_GROUP: usize = 16;

/// Hashes an entry position for the table of sets: positions are dense and
/// chosen by the map, not by clients, so a multiply spreads them well enough
/// (its high bits pick the control byte, its low bits the bucket).
#[derive(Default)]
struct PositionHasher(u64);

impl Hasher for PositionHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(SPREAD);
        }
    }

    #[inline]
    fn write_u32(&mut self, position: u32) {
        self.0 = u64::from(position).wrapping_mul(SPREAD);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// 2^64 over the golden ratio, odd: multiplying by it permutes the low bits
/// and spreads every bit to the high ones.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multimap::test_support::{
        check_invariants, field_values, model_add, model_pop, model_set, model_trim,
        numbered_values, Rng,
    };
    use crate::multimap::{End, MultiMap, SetError};

    type Model = HashMap<Vec<u8>, Vec<Vec<u8>>>;

    /// How many fields of `m` have a value set.
    fn sets_of(m: &MultiMap) -> usize {
        m.sides.as_ref().map_or(0, |sides| sides.value_sets.len())
    }

    #[test]
    fn add_to_long_fields_matches_a_model_through_every_other_change() {
        let mut rng = Rng(0xADD5);
        // Enough distinct values that ADD mostly appends, few enough that it
        // also meets values held, duplicates included.
        let pool = numbered_values(400);
        let names: [&[u8]; 4] = [b"a", b"b", b"c", b""];
        let mut m = MultiMap::new();
        let mut model = Model::new();
        let (mut most_sets, mut clones_checked) = (0, 0);
        let pick = |rng: &mut Rng, n: u64| -> Vec<Vec<u8>> {
            (0..rng.below(n + 1))
                .map(|_| pool[rng.below(pool.len() as u64) as usize].clone())
                .collect()
        };
        for op in 0..20_000 {
            let name = names[rng.below(names.len() as u64) as usize];
            let field = model.entry(name.to_vec()).or_default();
            let len = field.len();
            let index = |rng: &mut Rng| rng.below(2 * len as u64 + 3) as i64 - len as i64 - 1;
            match rng.below(16) {
                0..=4 => {
                    let most = if rng.below(8) == 0 { 20 } else { 2 };
                    let values = pick(&mut rng, most);
                    let added = model_add(field, &values);
                    let got = m.add_missing(name, values.iter().map(Vec::as_slice));
                    assert_eq!(got, added, "op {op}");
                }
                5 | 6 => {
                    let values = pick(&mut rng, 6);
                    field.extend_from_slice(&values);
                    assert_eq!(
                        m.insert(name, values.iter().map(Vec::as_slice)),
                        field.len()
                    );
                }
                7 => {
                    let values = pick(&mut rng, 3);
                    field.splice(0..0, values.iter().cloned());
                    assert_eq!(
                        m.prepend(name, values.iter().map(Vec::as_slice)),
                        field.len()
                    );
                }
                8 | 9 => {
                    let end = [End::Left, End::Right][rng.below(2) as usize];
                    if rng.below(2) == 0 {
                        let count = rng.below(4) as usize;
                        let popped = (len > 0).then(|| model_pop(field, end, count));
                        assert_eq!(m.pop(name, end, count), popped);
                    } else {
                        let popped = (len > 0).then(|| model_pop(field, end, 1).remove(0));
                        let taken = m.pop_one(name, end);
                        assert_eq!(taken.map(|value| value.as_bytes().to_vec()), popped);
                    }
                }
                10 => {
                    let index = index(&mut rng);
                    let value = pick(&mut rng, 1).pop().unwrap_or_default();
                    let expected = match len {
                        0 => Err(SetError::NoSuchField),
                        _ => model_set(field, index, &value),
                    };
                    assert_eq!(m.set_value(name, index, &value), expected);
                }
                11 => {
                    let (start, stop) = (index(&mut rng), index(&mut rng));
                    let (start, stop) = if rng.below(3) == 0 {
                        (start, stop)
                    } else {
                        (rng.below(3) as i64, -1 - rng.below(3) as i64)
                    };
                    let removed = model_trim(field, start, stop);
                    assert_eq!(m.trim(name, start, stop), removed);
                }
                12 => {
                    let values = pick(&mut rng, 3);
                    let unwanted: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
                    field.retain(|value| !values.contains(value));
                    assert_eq!(m.remove_values(name, &unwanted), len - field.len());
                }
                13 => {
                    let values = match rng.below(4) {
                        0 => Vec::new(),
                        _ => pick(&mut rng, 60),
                    };
                    let replaced = m.replace(name, values.iter().map(Vec::as_slice));
                    assert_eq!(replaced.len, values.len());
                    *field = values;
                }
                14 => {
                    // A field's expiry moves entries as removing it does;
                    // RENAME and COPY move or clone the whole map.
                    match rng.below(4) {
                        0 => {
                            assert_eq!(m.remove_field(name), len > 0);
                            field.clear();
                        }
                        1 => {
                            if len > 0 {
                                assert!(m.set_expiry(name, 10));
                                assert!(m.remove_if_expired(name, 20));
                            }
                            field.clear();
                        }
                        2 => {
                            assert_eq!(m.set_expiry(name, 1_000), len > 0);
                        }
                        _ => {
                            let copy = m.clone();
                            assert_eq!(sets_of(&copy), 0, "a copy has no value sets");
                            check_invariants(&copy);
                            m = copy;
                            clones_checked += 1;
                        }
                    }
                }
                _ => {
                    let value = pick(&mut rng, 1).pop().unwrap_or_default();
                    let held = m.get(name).is_some_and(|values| values.contains(&value));
                    assert_eq!(held, field.contains(&value));
                }
            }
            model.retain(|_, values| !values.is_empty());
            assert_eq!(field_values(&m, name).as_ref(), model.get(name), "op {op}");
            check_invariants(&m);
            most_sets = most_sets.max(sets_of(&m));
        }
        assert_eq!(most_sets, names.len(), "every field had a set at once");
        assert!(clones_checked > 100);
    }

    /// Checks `set` against `model` (fingerprint to count).
    fn assert_matches(set: &ValueSet, model: &HashMap<u32, u32>) {
        let mut expected: Vec<(u32, u32)> = model.iter().map(|(&f, &c)| (f, c)).collect();
        expected.sort_unstable();
        assert_eq!(set.counts(), expected);
        for (at, &slot) in set.slots.iter().enumerate().filter(|(_, &s)| s != 0) {
            assert_eq!(set.find((slot >> 32) as u32), (at, true));
        }
    }

    #[test]
    fn a_set_counts_fingerprints_through_collisions_growth_and_shrinking() {
        let mut rng = Rng(0xF1F0);
        let mut set = ValueSet::of(&FieldHasher::default(), std::iter::empty());
        let mut model: HashMap<u32, u32> = HashMap::new();
        let mut grew_to = 0;
        for round in 0..40_000u32 {
            // Phases of growth then of draining; fingerprints that share
            // their low bits, so that runs form and wrap past the end.
            let growing = (round / 5_000) % 2 == 0;
            let fingerprint = ((rng.below(300) as u32) << 24 | rng.below(4) as u32).max(1);
            if growing || rng.below(4) == 0 {
                set.add(fingerprint, 0);
                *model.entry(fingerprint).or_default() += 1;
            } else if let Some(&held) = model.keys().next() {
                assert!(set.remove(held));
                let count = model.get_mut(&held).expect("held");
                *count -= 1;
                if *count == 0 {
                    model.remove(&held);
                }
            }
            assert_eq!(set.find(fingerprint).1, model.contains_key(&fingerprint));
            grew_to = grew_to.max(set.slots.len());
            if round % 97 == 0 {
                assert_matches(&set, &model);
                assert!(set.slots.len() == MIN_SLOTS || set.used * 8 >= set.slots.len());
            }
        }
        assert_matches(&set, &model);
        assert!(grew_to >= 512, "grew to {grew_to} slots only");
        let absent = (1..)
            .find(|f| !model.contains_key(f))
            .expect("a free fingerprint");
        assert!(!set.remove(absent), "removed what it did not count");
        assert_matches(&set, &model);
    }

    #[test]
    fn add_confirms_a_fingerprint_against_the_values_and_builds_sets_only_for_long_fields() {
        let values = numbered_values(INDEX_THRESHOLD);
        let mut m = MultiMap::new();
        m.insert(b"short", values[1..].iter().map(Vec::as_slice));
        m.insert(b"long", values.iter().map(Vec::as_slice));
        assert_eq!(m.add_missing(b"short", [&b"x"[..]]), 1);
        assert_eq!(sets_of(&m), 0, "a field under the threshold is scanned");
        assert_eq!(m.add_missing(b"long", [&b"x"[..]]), 1);
        assert_eq!(sets_of(&m), 1);
        check_invariants(&m);
        // As if "y" had the fingerprint of the first value: the set places
        // it there, that value is not "y", and ADD appends "y". Its
        // fingerprint then counts two values, which only reading the values
        // tells apart.
        let y = fingerprint(&m.hasher, b"y");
        let long = m.find(b"long", m.hash(b"long")).expect("long");
        let sides = m.sides.as_mut().expect("a set");
        let set = sides.value_sets.get_mut(long).expect("the set of long");
        set.add(y, set.position_of(0));
        assert_eq!(m.add_missing(b"long", [&b"y"[..], b"x", b"y"]), 1);
        assert_eq!(m.add_missing(b"long", [&b"y"[..]]), 0);
        let long = field_values(&m, b"long").expect("long");
        assert_eq!(long.len(), INDEX_THRESHOLD + 2);
        assert_eq!(&long[INDEX_THRESHOLD..], [b"x".to_vec(), b"y".to_vec()]);
    }

    #[test]
    fn a_fingerprint_is_never_the_free_slot() {
        let hasher = FieldHasher::default();
        for i in 0..10_000u32 {
            assert_ne!(fingerprint(&hasher, &i.to_le_bytes()), 0);
        }
    }
}
