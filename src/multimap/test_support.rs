//! Helpers the multimap's unit tests share.

#![forbid(unsafe_code)]

use super::packed::encode_value;
use super::Values;

/// SplitMix64: tiny, fixed-seed, good enough to drive reproducible operation sequences.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
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
