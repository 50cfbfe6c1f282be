//! A field's values as callers see them: borrowed from the map, read in
//! place from the packed encoding, from either end.

#![forbid(unsafe_code)]

use super::packed::{value_at, value_start_before};

/// The ordered values of one field, borrowed from the map. Duplicates are kept,
/// in insertion order.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    pub(super) count: usize,
    pub(super) packed: &'a [u8],
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
        let len = i64::try_from(self.count).unwrap_or(i64::MAX);
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
        if start > stop || start >= len {
            return ValuesIter {
                packed: self.packed,
                front: 0,
                back: 0,
                remaining: 0,
            };
        }
        let (start, taken) = (start as usize, (stop - start + 1) as usize);
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

    /// Byte offset of value `index`, walking from whichever end is nearer.
    fn offset_of(&self, index: usize) -> usize {
        if index <= self.count / 2 {
            (0..index).fold(0, |offset, _| value_at(self.packed, offset).1)
        } else {
            (index..self.count).fold(self.packed.len(), |end, _| {
                value_start_before(self.packed, end)
            })
        }
    }
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
        Values { count, packed }
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
}
