//! A field's values as callers see them: borrowed from the map, read in
//! place from the packed encoding, from either end.

#![forbid(unsafe_code)]

use super::checkpoints::{Checkpoints, STRIDE};
use super::packed::{value_at, value_start_before};

/// The ordered values of one field, borrowed from the map. Duplicates are kept,
/// in insertion order.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    pub(super) count: usize,
    pub(super) packed: &'a [u8],
    pub(super) checkpoints: Checkpoints<'a>,
}

impl Values<'static> {
    /// The values of no field.
    pub(super) const NONE: Values<'static> = Values {
        count: 0,
        packed: &[],
        checkpoints: Checkpoints::NONE,
    };
}

impl<'a> Values<'a> {
    /// Number of values, O(1).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The values in order.
    pub fn iter(&self) -> ValuesIter<'a> {
        ValuesIter {
            packed: self.packed,
            front: 0,
            back: self.packed.len(),
            remaining: self.count,
        }
    }

    pub fn contains(&self, value: &[u8]) -> bool {
        self.iter().any(|candidate| candidate == value)
    }

    /// The values from `start` to `stop` inclusive, with Redis `LRANGE` semantics: negative
    /// indices count from the end, `start` is clamped to 0 and `stop` to the last index, and the
    /// result is empty when `start > stop` or `start` is past the end. O(S+N), S being the
    /// distance of `start` from the nearer end.
    pub fn range(&self, start: i64, stop: i64) -> ValuesIter<'a> {
        let Some((start, stop)) = clamp_range(self.count, start, stop) else {
            return ValuesIter {
                packed: self.packed,
                front: 0,
                back: 0,
                remaining: 0,
            };
        };
        let taken = stop - start + 1;
        let front = self.offset_of(start);
        let mut back = front;
        for _ in 0..taken {
            back = value_at(self.packed, back).1;
        }
        ValuesIter {
            packed: self.packed,
            front,
            back,
            remaining: taken,
        }
    }

    /// The value at `index` with Redis `LINDEX` semantics (negative counts
    /// from the end), walking from the nearer end: O(1) at either end.
    pub fn get(&self, index: i64) -> Option<&'a [u8]> {
        let index = resolve_index(self.count, index)?;
        Some(value_at(self.packed, self.offset_of(index)).0)
    }

    /// Redis `LPOS`: the indexes (from the front, as `get` takes them) of the
    /// values equal to `value`, starting at the `|rank|`-th match counted from
    /// the front (`rank > 0`) or the back (`rank < 0`), in the order found; at
    /// most `count` of them (0: all) among the first `maxlen` values looked at
    /// from that end (0: all of them). A `rank` of 0 finds nothing.
    pub fn positions(&self, value: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        fn matching<'v>(
            looked_at: impl Iterator<Item = (usize, &'v [u8])>,
            value: &[u8],
            skip: usize,
            wanted: usize,
        ) -> Vec<usize> {
            looked_at
                .filter(|&(_, candidate)| candidate == value)
                .map(|(index, _)| index)
                .skip(skip)
                .take(wanted)
                .collect()
        }
        let skip = usize::try_from(rank.unsigned_abs())
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        let looked_at = if maxlen == 0 { self.count } else { maxlen };
        let wanted = if count == 0 { usize::MAX } else { count };
        if rank > 0 {
            matching(self.iter().enumerate().take(looked_at), value, skip, wanted)
        } else if rank < 0 {
            let last = self.count.saturating_sub(1);
            let from_the_back = self.iter().rev().enumerate().take(looked_at);
            let indexed = from_the_back.map(|(i, candidate)| (last - i, candidate));
            matching(indexed, value, skip, wanted)
        } else {
            Vec::new()
        }
    }

    /// Byte offset of value `index`, walking from whichever is nearer of
    /// either end and, in a long field, its nearest checkpoint.
    pub(super) fn offset_of(&self, index: usize) -> usize {
        if index.min(self.count - index) > STRIDE / 2 {
            if let Some(offset) = self.checkpoints.offset_of(self.packed, index) {
                return offset;
            }
        }
        if index <= self.count / 2 {
            (0..index).fold(0, |offset, _| value_at(self.packed, offset).1)
        } else {
            (index..self.count).fold(self.packed.len(), |end, _| {
                value_start_before(self.packed, end)
            })
        }
    }
}

/// `LINDEX`/`LSET` indexing over `len` values: negative counts from the end;
/// `None` when out of range.
pub(super) fn resolve_index(len: usize, index: i64) -> Option<usize> {
    let index = if index < 0 {
        // Any index fits in i128, so counting from the end cannot overflow.
        i128::from(index) + len as i128
    } else {
        i128::from(index)
    };
    usize::try_from(index).ok().filter(|&index| index < len)
}

/// `LRANGE`/`LTRIM` bounds over `len` values: the first and last index
/// inclusive, or `None` for an empty range.
pub(super) fn clamp_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    // Adding a non-negative `len` to a negative index cannot overflow.
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        stop + len
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

/// Walks packed values from both ends.
pub struct ValuesIter<'a> {
    packed: &'a [u8],
    front: usize,
    back: usize,
    remaining: usize,
}

impl<'a> Iterator for ValuesIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let (value, next) = value_at(self.packed, self.front);
        self.front = next;
        self.remaining -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl DoubleEndedIterator for ValuesIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let start = value_start_before(self.packed, self.back);
        self.back = start;
        self.remaining -= 1;
        Some(value_at(self.packed, start).0)
    }
}

impl ExactSizeIterator for ValuesIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multimap::packed::count_packed_values;
    use crate::multimap::test_support::{pack, vecs};

    fn values_of(packed: &[u8]) -> Values<'_> {
        let count = count_packed_values(packed).expect("packed by the test");
        Values {
            count,
            packed,
            checkpoints: Checkpoints::NONE,
        }
    }

    fn range_vec(values: Values, start: i64, stop: i64) -> Vec<Vec<u8>> {
        values.range(start, stop).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn values_iter_runs_both_ways_with_exact_size() {
        let packed = pack([&b"a"[..], b"b", b"c"]);
        let v = values_of(&packed);
        assert_eq!(v.len(), 3);
        assert!(!v.is_empty());
        assert_eq!(v.iter().len(), 3);
        let reversed: Vec<&[u8]> = v.iter().rev().collect();
        assert_eq!(reversed, [&b"c"[..], b"b", b"a"]);
    }

    #[test]
    fn values_contains_matches_whole_values_only() {
        let packed = pack([&b"ab"[..], b"\0", b""]);
        let v = values_of(&packed);
        assert!(v.contains(b"ab"));
        assert!(v.contains(b"\0"));
        assert!(v.contains(b""));
        assert!(!v.contains(b"a"));
        assert!(!v.contains(b"ab\0"));
    }

    #[test]
    fn values_range_follows_lrange_semantics() {
        let packed = pack([&b"0"[..], b"1", b"2", b"3", b"4"]);
        let v = values_of(&packed);
        let all = vecs(&[b"0", b"1", b"2", b"3", b"4"]);
        assert_eq!(range_vec(v, 0, -1), all);
        assert_eq!(range_vec(v, 1, 2), vecs(&[b"1", b"2"]));
        assert_eq!(range_vec(v, -2, -1), vecs(&[b"3", b"4"]));
        assert_eq!(range_vec(v, 3, 3), vecs(&[b"3"]));
        assert_eq!(range_vec(v, -100, 1), vecs(&[b"0", b"1"]));
        assert_eq!(range_vec(v, 2, 100), vecs(&[b"2", b"3", b"4"]));
        assert_eq!(range_vec(v, 4, 4), vecs(&[b"4"]));
        assert!(range_vec(v, 3, 2).is_empty());
        assert!(range_vec(v, 5, 10).is_empty());
        assert!(range_vec(v, -1, -2).is_empty());
        assert!(range_vec(v, 0, -6).is_empty());
        assert!(range_vec(v, -100, -6).is_empty());
        assert_eq!(range_vec(v, -5, -5), vecs(&[b"0"]));
        assert_eq!(v.range(1, 3).len(), 3);
    }

    #[test]
    fn values_range_accepts_extreme_indices() {
        let packed = pack([&b"0"[..], b"1", b"2"]);
        let v = values_of(&packed);
        let all = vecs(&[b"0", b"1", b"2"]);
        assert_eq!(range_vec(v, i64::MIN, i64::MAX), all);
        assert_eq!(range_vec(v, 0, i64::MAX), all);
        assert_eq!(range_vec(v, i64::MIN, -1), all);
        assert!(range_vec(v, i64::MAX, i64::MAX).is_empty());
        assert!(range_vec(v, i64::MIN, i64::MIN).is_empty());
        assert!(range_vec(v, i64::MAX, i64::MIN).is_empty());
        assert!(range_vec(v, 0, i64::MIN).is_empty());
        assert_eq!(range_vec(v, -1, i64::MAX), vecs(&[b"2"]));
    }

    #[test]
    fn range_near_the_tail_of_a_long_field_walks_backwards_correctly() {
        let values: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| i.to_string().repeat(1 + i as usize % 40).into_bytes())
            .collect();
        let packed = pack(values.iter().map(Vec::as_slice));
        let field = values_of(&packed);
        assert_eq!(range_vec(field, -3, -1), values[4997..]);
        assert_eq!(range_vec(field, 4000, 4001), values[4000..4002]);
        assert_eq!(range_vec(field, 2499, 2501), values[2499..2502]);
        let reversed: Vec<&[u8]> = field.iter().rev().take(2).collect();
        assert_eq!(reversed, [&values[4999][..], &values[4998][..]]);
    }

    #[test]
    fn get_follows_lindex_semantics_from_either_end() {
        let values: Vec<Vec<u8>> = (0..1001u32).map(|i| i.to_string().into_bytes()).collect();
        let packed = pack(values.iter().map(Vec::as_slice));
        let v = values_of(&packed);
        for (index, expected) in [(0, 0), (1, 1), (500, 500), (501, 501), (1000, 1000)] {
            assert_eq!(v.get(index), Some(&values[expected][..]), "{index}");
        }
        for (index, expected) in [(-1, 1000), (-2, 999), (-501, 500), (-1001, 0)] {
            assert_eq!(v.get(index), Some(&values[expected][..]), "{index}");
        }
        for index in [1001, -1002, i64::MAX, i64::MIN, i64::MIN + 1] {
            assert_eq!(v.get(index), None, "{index}");
        }
        assert_eq!(values_of(&[]).get(0), None);
        assert_eq!(values_of(&[]).get(-1), None);
    }

    #[test]
    fn get_reads_binary_values_whose_lengths_take_one_to_three_bytes() {
        let values = vecs(&[b"", b"\0", &[0u8; 200], &[0xffu8; 20_000], b"\0\xff"]);
        let packed = pack(values.iter().map(Vec::as_slice));
        let v = values_of(&packed);
        for (index, value) in values.iter().enumerate() {
            assert_eq!(v.get(index as i64), Some(&value[..]));
            assert_eq!(v.get(index as i64 - 5), Some(&value[..]));
        }
    }

    #[test]
    fn positions_follow_lpos_semantics() {
        // The list of LPOS's documentation: a b c 1 2 3 c c.
        let packed = pack([&b"a"[..], b"b", b"c", b"1", b"2", b"3", b"c", b"c"]);
        let v = values_of(&packed);
        // Value, RANK, COUNT, MAXLEN, the indexes found.
        type Case = (&'static [u8], i64, usize, usize, &'static [usize]);
        let cases: [Case; 17] = [
            (b"c", 1, 1, 0, &[2]),
            (b"c", 2, 1, 0, &[6]),
            (b"c", -1, 1, 0, &[7]),
            (b"c", 1, 2, 0, &[2, 6]),
            (b"c", -1, 2, 0, &[7, 6]),
            (b"c", 1, 0, 0, &[2, 6, 7]),
            (b"c", -1, 0, 0, &[7, 6, 2]),
            (b"c", 2, 0, 0, &[6, 7]),
            (b"c", -3, 0, 0, &[2]),
            (b"c", 4, 0, 0, &[]),
            (b"c", -4, 0, 0, &[]),
            // MAXLEN counts the values looked at from the end the search starts at.
            (b"c", 1, 0, 2, &[]),
            (b"c", 1, 0, 3, &[2]),
            (b"c", -1, 0, 1, &[7]),
            (b"c", -1, 0, 5, &[7, 6]),
            (b"a", 1, 0, 100, &[0]),
            (b"z", 1, 0, 0, &[]),
        ];
        for (value, rank, count, maxlen, expected) in cases {
            assert_eq!(
                v.positions(value, rank, count, maxlen),
                expected,
                "{value:?} RANK {rank} COUNT {count} MAXLEN {maxlen}"
            );
        }
    }

    #[test]
    fn positions_take_extreme_ranks_and_binary_values() {
        let packed = pack([&b""[..], b"\0", b"", &[0u8; 200][..], b""]);
        let v = values_of(&packed);
        assert_eq!(v.positions(b"", 1, 0, 0), [0, 2, 4]);
        assert_eq!(v.positions(b"", -2, 0, 0), [2, 0]);
        assert_eq!(v.positions(b"\0", 1, 0, 0), [1]);
        assert_eq!(v.positions(&[0u8; 200], -1, 1, 0), [3]);
        assert_eq!(v.positions(&[0u8; 199], 1, 0, 0), [] as [usize; 0]);
        assert!(v.positions(b"", i64::MAX, 0, 0).is_empty());
        assert!(v.positions(b"", -i64::MAX, 0, 0).is_empty());
        assert!(v.positions(b"", 1, usize::MAX, usize::MAX).len() == 3);
        assert!(values_of(&[]).positions(b"", -1, 0, 0).is_empty());
    }
}
