//! The hash of field names the table buckets them by.

#![forbid(unsafe_code)]

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// A keyed hash of field names: 64-bit multiply-and-fold rounds over the
/// bytes, seeded with secrets drawn per map from the OS-seeded `RandomState`.
/// Much cheaper than SipHash on short names, and an attacker who cannot learn
/// the secrets cannot choose names that collide (HashDoS).
#[derive(Clone)]
pub(super) struct FieldHasher {
    secrets: [u64; 2],
}

impl Default for FieldHasher {
    fn default() -> Self {
        let state = RandomState::new();
        FieldHasher {
            secrets: [state.hash_one(0u64), state.hash_one(1u64)],
        }
    }
}

/// The 64-bit golden-ratio constant and a second odd constant with well-mixed bits.
const HASH_LENGTH_FACTOR: u64 = 0x9e37_79b9_7f4a_7c15;
const HASH_FINAL_FACTOR: u64 = 0xa076_1d64_78bd_642f;

#[inline]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    product as u64 ^ (product >> 64) as u64
}

#[inline]
fn read_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

#[inline]
fn read_u32(bytes: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")))
}

impl FieldHasher {
    #[inline]
    pub(super) fn hash(&self, bytes: &[u8]) -> u64 {
        let [k0, k1] = self.secrets;
        let len = bytes.len();
        let mut state = k0 ^ (len as u64).wrapping_mul(HASH_LENGTH_FACTOR);
        // Overlapping reads cover every byte; the length in `state` tells
        // apart inputs the overlap would otherwise confuse.
        let (a, b) = match len {
            0 => (0, 0),
            1..=3 => {
                let spread = u64::from(bytes[0])
                    | u64::from(bytes[len / 2]) << 8
                    | u64::from(bytes[len - 1]) << 16;
                (spread, 0)
            }
            4..=7 => (read_u32(bytes), read_u32(&bytes[len - 4..])),
            8..=16 => (read_u64(bytes), read_u64(&bytes[len - 8..])),
            _ => {
                let mut rest = bytes;
                while rest.len() > 16 {
                    state = folded_multiply(read_u64(rest) ^ k1, read_u64(&rest[8..]) ^ state);
                    rest = &rest[16..];
                }
                (read_u64(&bytes[len - 16..]), read_u64(&bytes[len - 8..]))
            }
        };
        let mixed = folded_multiply(a ^ k1, b ^ state);
        folded_multiply(mixed ^ HASH_FINAL_FACTOR, k0 | 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_hash_spreads_similar_names_over_buckets() {
        let hasher = FieldHasher::default();
        let buckets = 1 << 16;
        let mut load = vec![0u32; buckets];
        for i in 0..buckets as u32 {
            for name in [
                i.to_string().into_bytes(),
                format!("user:{i}:tags").into_bytes(),
                i.to_le_bytes().to_vec(),
            ] {
                // The table buckets fields by the hash's top bits.
                load[(hasher.hash(&name) >> 48) as usize] += 1;
            }
        }
        // Three names per bucket on average; a poor hash piles them up.
        let fullest = load.iter().max().copied().unwrap_or(0);
        assert!(fullest <= 16, "a bucket holds {fullest} names");
        let empty = load.iter().filter(|&&n| n == 0).count();
        assert!(empty < buckets / 10, "{empty} empty buckets");
    }

    #[test]
    fn field_hash_depends_on_every_byte_length_and_secret() {
        let hasher = FieldHasher::default();
        let base: Vec<u8> = (0..40).collect();
        for len in 0..base.len() {
            let name = &base[..len];
            for i in 0..len {
                let mut changed = name.to_vec();
                changed[i] ^= 1;
                assert_ne!(
                    hasher.hash(name),
                    hasher.hash(&changed),
                    "len {len} byte {i}"
                );
            }
            assert_ne!(
                hasher.hash(name),
                hasher.hash(&base[..len + 1]),
                "len {len}"
            );
        }
        let other = FieldHasher::default();
        assert_ne!(
            hasher.hash(b"field"),
            other.hash(b"field"),
            "maps draw their own secrets"
        );
    }

    #[test]
    fn a_clone_hashes_like_its_original() {
        // A cloned map keeps its buckets, so it must find its fields where they are.
        let hasher = FieldHasher::default();
        let clone = hasher.clone();
        for name in [&b""[..], b"f", b"a longer field name, past sixteen bytes"] {
            assert_eq!(hasher.hash(name), clone.hash(name));
        }
    }
}
