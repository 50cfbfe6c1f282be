//! Helpers the multimap's unit tests share.

#![forbid(unsafe_code)]

use super::checkpoints::{INDEX_FROM, STRIDE};
use super::entry::{Entry, GAP_FLAG};
use super::leb128::read_varint;
use super::packed::{count_packed_values, encode_value};
use super::size_class::heap_alloc;
use super::{End, MultiMap, SetError, Values, MIN_BUCKETS, NIL};

/// SplitMix64: tiny, fixed-seed, good enough to drive reproducible operation sequences.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub(super) fn collect(values: Values) -> Vec<Vec<u8>> {
    values.iter().map(<[u8]>::to_vec).collect()
}

/// The values of `field` as owned vectors, `None` if it is missing.
pub(super) fn field_values(m: &MultiMap, field: &[u8]) -> Option<Vec<Vec<u8>>> {
    m.get(field).map(collect)
}

pub(super) fn vecs(values: &[&[u8]]) -> Vec<Vec<u8>> {
    values.iter().map(|v| v.to_vec()).collect()
}

/// Packs `values` the way a field stores them.
pub(super) fn pack<'v>(values: impl IntoIterator<Item = &'v [u8]>) -> Vec<u8> {
    let mut packed = Vec::new();
    for value in values {
        encode_value(&mut packed, value);
    }
    packed
}

/// `count` values of 12 bytes each, all different.
pub(super) fn numbered_values(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| format!("value-{i:06}").into_bytes())
        .collect()
}

pub(super) fn numbered(i: usize) -> Vec<u8> {
    format!("field-{i}").into_bytes()
}

/// Checks every structural invariant the public behaviour relies on.
pub(super) fn check_invariants(m: &MultiMap) {
    let total: usize = m.entries.iter().map(|e| e.values().len()).sum();
    assert_eq!(m.totals.values, total, "running total drifted");
    let bytes: usize = m.entries.iter().map(|e| e.record().len()).sum();
    assert_eq!(m.totals.bytes, bytes, "running byte total drifted");
    assert!(
        m.entries.iter().all(|e| !e.values().is_empty()),
        "empty field kept"
    );
    m.entries.iter().for_each(check_entry);
    if let Some(sides) = &m.sides {
        assert!(!sides.is_empty(), "empty side tables kept");
        if let Some(expiries) = &sides.expiries {
            assert!(!expiries.is_empty(), "an empty expiry table kept");
            expiries.check(m.entries.len(), |i| m.entries[i].len());
        }
        sides
            .value_sets
            .check(m.entries.len(), &m.hasher, |i| m.entries[i].values());
    }
    if m.buckets.is_empty() {
        assert!(m.entries.is_empty());
        return;
    }
    let n = m.buckets.len();
    assert!(n.is_power_of_two() && n >= MIN_BUCKETS);
    assert!(m.entries.len() <= n, "table should have grown");
    assert!(
        n == MIN_BUCKETS || m.entries.len() >= n / 8,
        "table should have shrunk"
    );
    let mut seen = vec![false; m.entries.len()];
    for (bucket, &head) in m.buckets.iter().enumerate() {
        let mut idx = head;
        while idx != NIL {
            let entry = &m.entries[idx as usize];
            assert!(!seen[idx as usize], "entry linked twice");
            seen[idx as usize] = true;
            assert_eq!(m.bucket_of(m.hash(entry.field())), bucket);
            idx = entry.next;
        }
    }
    assert!(seen.iter().all(|&s| s), "entry not linked");
    for (i, e) in m.entries.iter().enumerate() {
        assert_eq!(
            m.find(e.field(), m.hash(e.field())),
            Some(i),
            "duplicate field"
        );
    }
}

/// Checks one field's layout: where its record starts, the record itself,
/// its checkpoints, and that its buffer is not mostly unused.
pub(super) fn check_entry(e: &Entry) {
    let start = e.record_start();
    if e.count & GAP_FLAG != 0 {
        let (written, len) = read_varint(&e.data).expect("record offset");
        assert_eq!(written as usize >> 1, start);
        assert_eq!(written & 1 == 1, e.is_indexed());
        assert!(start >= 1, "a record at 0 is marked as not");
        assert!(len <= start, "the record offset runs into the record");
        assert!(start <= e.data.len(), "the record starts past the buffer");
    }
    let record = e.record();
    let (name_len, header) = read_varint(record).expect("field header");
    let values_offset = header + name_len as usize;
    assert!(values_offset <= record.len(), "name past the record");
    assert_eq!(start + values_offset, e.values_offset());
    assert_eq!(count_packed_values(&record[values_offset..]), Ok(e.len()));
    assert_eq!(e.values().packed, &record[values_offset..]);
    if e.is_indexed() {
        e.check_checkpoints();
    } else {
        assert!(
            e.len() < INDEX_FROM,
            "{} values without checkpoints",
            e.len()
        );
    }
    let checkpoints = e.checkpoints_len();
    assert!(
        e.data.capacity() <= 2 * heap_alloc(checkpoints + record.len()),
        "slack beyond twice the size class of the record: {} for {} and {checkpoints}",
        e.data.capacity(),
        record.len()
    );
}

// The list commands as Redis runs them, on a field modelled as a plain vector
// (empty: no field), written the way Redis's C code computes them.

/// LINDEX.
pub(super) fn model_index(values: &[Vec<u8>], index: i64) -> Option<&[u8]> {
    let len = values.len() as i128;
    let index = i128::from(index);
    let index = if index < 0 { index + len } else { index };
    usize::try_from(index)
        .ok()
        .and_then(|index| values.get(index))
        .map(Vec::as_slice)
}

/// LSET on an existing field.
pub(super) fn model_set(
    values: &mut [Vec<u8>],
    index: i64,
    value: &[u8],
) -> Result<bool, SetError> {
    model_index(values, index).ok_or(SetError::IndexOutOfRange)?;
    let index = if index < 0 {
        index + values.len() as i64
    } else {
        index
    };
    let old = std::mem::replace(&mut values[index as usize], value.to_vec());
    Ok(old != value)
}

/// LPOP/RPOP with a count: the values in the order popped.
pub(super) fn model_pop(values: &mut Vec<Vec<u8>>, end: End, count: usize) -> Vec<Vec<u8>> {
    let count = count.min(values.len());
    match end {
        End::Left => values.drain(..count).collect(),
        End::Right => values.drain(values.len() - count..).rev().collect(),
    }
}

/// LTRIM: how many values went.
pub(super) fn model_trim(values: &mut Vec<Vec<u8>>, start: i64, stop: i64) -> usize {
    let len = values.len() as i128;
    let (mut start, mut stop) = (i128::from(start), i128::from(stop));
    if start < 0 {
        start += len;
    }
    if stop < 0 {
        stop += len;
    }
    start = start.max(0);
    let before = values.len();
    if start > stop || start >= len {
        values.clear();
    } else {
        stop = stop.min(len - 1);
        values.truncate(stop as usize + 1);
        values.drain(..start as usize);
    }
    before - values.len()
}

/// Appending each candidate not there yet: how many were.
pub(super) fn model_add(values: &mut Vec<Vec<u8>>, candidates: &[Vec<u8>]) -> usize {
    let before = values.len();
    for candidate in candidates {
        if !values.contains(candidate) {
            values.push(candidate.clone());
        }
    }
    values.len() - before
}

/// LPOS.
pub(super) fn model_positions(
    values: &[Vec<u8>],
    value: &[u8],
    rank: i64,
    count: usize,
    maxlen: usize,
) -> Vec<usize> {
    let order: Vec<usize> = if rank > 0 {
        (0..values.len()).collect()
    } else {
        (0..values.len()).rev().collect()
    };
    let looked_at = if maxlen == 0 {
        order.len()
    } else {
        maxlen.min(order.len())
    };
    let mut matches = 0;
    let mut found = Vec::new();
    for &index in &order[..looked_at] {
        if values[index] == value {
            matches += 1;
            if matches >= rank.unsigned_abs() {
                found.push(index);
                if found.len() == count {
                    break;
                }
            }
        }
    }
    found
}

/// Positional reads of `field` against the model: INDEX at random indexes
/// and those where reads turn from walking from an end to walking from a
/// checkpoint, from the front and the back, and RANGE from each of them.
pub(super) fn assert_positions_match(m: &MultiMap, field: &[u8], model: &[Vec<u8>], rng: &mut Rng) {
    let Some(values) = m.get(field) else {
        assert!(model.is_empty(), "field missing");
        return;
    };
    let len = model.len() as i64;
    let near = STRIDE as i64 / 2;
    let mut indexes: Vec<i64> = (0..12).map(|_| rng.below(len as u64) as i64).collect();
    indexes.extend([
        0,
        len - 1,
        len / 2,
        near,
        near + 1,
        len - near - 1,
        len - near - 2,
    ]);
    for index in indexes.into_iter().filter(|index| (0..len).contains(index)) {
        assert_eq!(
            values.get(index),
            model_index(model, index),
            "INDEX {index}"
        );
        let from_back = index - len;
        assert_eq!(
            values.get(from_back),
            model_index(model, from_back),
            "INDEX {from_back}"
        );
        // Some ranges end before they start, none counts its stop from the back.
        let stop = (index + rng.below(3 * STRIDE as u64) as i64 - STRIDE as i64).max(0);
        let start = [index, from_back][rng.below(2) as usize];
        let range: Vec<&[u8]> = values.range(start, stop).collect();
        let end = (stop + 1).min(len).max(index) as usize;
        let expected: Vec<&[u8]> = model[index as usize..end]
            .iter()
            .map(Vec::as_slice)
            .collect();
        assert_eq!(range, expected, "RANGE {start} {stop}");
    }
}
