//! SCAN over the table: a cursor that survives the table being resized
//! between calls. A field's bucket is the top bits of its hash (see
//! `bucket_in`), so a cursor is a point in hash space: an iteration has
//! returned every field whose hash lies below it.

#![forbid(unsafe_code)]

use super::{bucket_shift, MultiMap, Values, NIL};

impl MultiMap {
    /// Cursor iteration with HSCAN's guarantee: visits whole buckets in order of the hashes they
    /// hold, calling `visit` for each field of each visited bucket; stops after at least `count`
    /// fields were visited or after visiting 10*count buckets, whichever comes first. Returns the
    /// next cursor, the lowest hash of the next bucket; 0 means the iteration is complete. Any
    /// u64 cursor is accepted: it resumes at the bucket holding that hash.
    ///
    /// A bucket of a table twice as big holds half of one bucket's hashes, and of a table half
    /// as big those of two neighbours, so a table resized between calls still resumes at the
    /// first hash not visited yet (after a shrink, a bucket half visited is visited again). A
    /// full iteration (cursor 0 back to 0) returns every field present for its whole duration
    /// at least once; on an unchanged map, each field exactly once.
    ///
    /// Buckets are visited in memory order, so the bucket heads of a call share cache lines
    /// however big the table: in a big table that is one cache miss in three a visited field
    /// costs, next to its entry and its record (Redis's `dictScan` visits buckets in
    /// reverse-binary order, a miss per bucket, empty ones too).
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'a [u8], Values<'a>),
    ) -> u64 {
        self.scan_entries(cursor, count, |i| {
            let entry = &self.entries[i];
            visit(entry.field(), entry.values());
        })
    }

    /// `scan` by entry position.
    pub(super) fn scan_entries(
        &self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(usize),
    ) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let count = count.max(1);
        let max_buckets = count.saturating_mul(10);
        let shift = bucket_shift(self.buckets.len());
        let mut bucket = (cursor >> shift) as usize;
        let mut fields_visited = 0;
        let mut buckets_visited = 0;
        loop {
            let mut idx = self.buckets[bucket];
            while idx != NIL {
                visit(idx as usize);
                fields_visited += 1;
                idx = self.entries[idx as usize].next;
            }
            buckets_visited += 1;
            bucket += 1;
            if bucket == self.buckets.len() {
                return 0;
            }
            if fields_visited >= count || buckets_visited >= max_buckets {
                // Not 0: `bucket` is below the table's size, which the shift keeps.
                return (bucket as u64) << shift;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multimap::test_support::{check_invariants, collect, numbered, vecs, Rng};
    use std::collections::{HashMap, HashSet};

    /// Runs a full scan on an unchanged map and counts how often each field was returned.
    fn full_scan(m: &MultiMap, count: usize) -> HashMap<Vec<u8>, usize> {
        let mut seen = HashMap::new();
        let mut cursor = 0;
        loop {
            cursor = m.scan(cursor, count, |f, _| {
                *seen.entry(f.to_vec()).or_insert(0) += 1
            });
            if cursor == 0 {
                return seen;
            }
        }
    }

    /// The bucket a cursor resumes at in a table of `buckets` buckets.
    fn scan_position(cursor: u64, buckets: usize) -> u64 {
        cursor >> bucket_shift(buckets)
    }

    #[test]
    fn scan_of_empty_map_completes_immediately() {
        let m = MultiMap::new();
        assert_eq!(m.scan(0, 10, |_, _| panic!("nothing to visit")), 0);
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..]]);
        m.remove_field(b"f");
        assert_eq!(full_scan(&m, 10).len(), 0);
    }

    #[test]
    fn scan_of_unchanged_map_returns_each_field_exactly_once() {
        let mut m = MultiMap::new();
        for i in 0..10_000 {
            m.insert(&numbered(i), [&b"v"[..]]);
        }
        for count in [0, 1, 10, 1000] {
            let seen = full_scan(&m, count);
            assert_eq!(seen.len(), 10_000, "count {count}");
            assert!(seen.values().all(|&n| n == 1), "count {count}");
        }
    }

    #[test]
    fn scan_passes_each_fields_values() {
        let mut m = MultiMap::new();
        m.insert(b"f", [&b"a"[..], b"b"]);
        m.scan(0, 10, |f, v| {
            assert_eq!(f, b"f");
            assert_eq!(collect(v), vecs(&[b"a", b"b"]));
        });
    }

    #[test]
    fn scan_call_returns_at_least_count_fields_unless_done_or_bucket_budget_spent() {
        let mut m = MultiMap::new();
        for i in 0..5000 {
            m.insert(&numbered(i), [&b"v"[..]]);
        }
        let buckets = m.buckets.len();
        let mut cursor = 0;
        loop {
            let mut visited = 0;
            let next = m.scan(cursor, 5, |_, _| visited += 1);
            let steps = if next == 0 {
                buckets as u64 - scan_position(cursor, buckets)
            } else {
                scan_position(next, buckets) - scan_position(cursor, buckets)
            };
            assert!(steps <= 50);
            assert!(visited >= 5 || next == 0 || steps == 50);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }

    #[test]
    fn scan_ignores_cursor_bits_below_the_bucket_bits() {
        let mut m = MultiMap::new();
        for i in 0..100 {
            m.insert(&numbered(i), [&b"v"[..]]);
        }
        let shift = bucket_shift(m.buckets.len());
        let below = (1u64 << shift) - 1;
        for bucket in [0u64, 5, 77, m.buckets.len() as u64 - 1] {
            let mut plain = Vec::new();
            let mut garbage = Vec::new();
            let next_plain = m.scan(bucket << shift, 3, |f, _| plain.push(f.to_vec()));
            let next_garbage = m.scan(bucket << shift | below, 3, |f, _| garbage.push(f.to_vec()));
            assert_eq!(plain, garbage);
            assert_eq!(next_plain, next_garbage);
        }
        // Cursors from a foreign or bigger table must still terminate.
        let mut cursor = 1;
        let mut calls = 0;
        while cursor != 0 {
            cursor = m.scan(cursor, 1, |_, _| {});
            calls += 1;
            assert!(calls <= m.buckets.len());
        }
        assert_eq!(m.scan(u64::MAX, 1, |_, _| {}), 0);
    }

    #[test]
    fn scan_on_sparse_huge_table_visits_bounded_buckets() {
        let mut m = MultiMap::new();
        for i in 0..3 {
            m.insert(&numbered(i), [&b"v"[..]]);
        }
        // Load factors this low only arise transiently in practice; force one to bound the work.
        m.resize(1 << 20);
        let buckets = m.buckets.len();
        let mut cursor = 0;
        let mut seen = HashMap::new();
        loop {
            let mut visited = 0;
            let next = m.scan(cursor, 1, |f, _| {
                visited += 1;
                *seen.entry(f.to_vec()).or_insert(0) += 1;
            });
            if next == 0 {
                break;
            }
            let steps = scan_position(next, buckets) - scan_position(cursor, buckets);
            assert!(steps <= 10);
            assert!(visited > 0 || steps == 10);
            cursor = next;
        }
        assert_eq!(seen.len(), 3);
        assert!(seen.values().all(|&n| n == 1));
    }

    /// Fields inserted and removed around a scan, always fresh names so removals are unambiguous.
    struct Churn {
        fields: Vec<Vec<u8>>,
        next: usize,
    }

    impl Churn {
        /// Inserts or removes random churn fields until `target` exist; returns the removed ones.
        fn resize_to(&mut self, m: &mut MultiMap, rng: &mut Rng, target: usize) -> Vec<Vec<u8>> {
            while self.fields.len() < target {
                let f = format!("churn-{}", self.next).into_bytes();
                self.next += 1;
                m.insert(&f, [&b"c"[..]]);
                self.fields.push(f);
            }
            let mut removed = Vec::new();
            while self.fields.len() > target {
                let i = rng.below(self.fields.len() as u64) as usize;
                let victim = self.fields.swap_remove(i);
                assert!(m.remove_field(&victim));
                removed.push(victim);
            }
            removed
        }
    }

    #[test]
    fn scan_returns_fields_present_throughout_despite_grows_and_shrinks() {
        for (seed, count) in [(1u64, 1usize), (2, 10), (3, 50)] {
            let mut rng = Rng(seed);
            let mut m = MultiMap::new();
            // Never removed, so every scan owes them whatever the churn does.
            let stable: Vec<Vec<u8>> = (0..50)
                .map(|i| format!("stable-{i}").into_bytes())
                .collect();
            for f in &stable {
                m.insert(f, [&b"v"[..]]);
            }
            let mut churn = Churn {
                fields: Vec::new(),
                next: 0,
            };
            let (mut grows, mut shrinks, mut scans) = (0, 0, 0);
            // Resizes counted here happen between the calls of a scan, so enough of them in
            // total means scans really were interrupted by grows and shrinks.
            while grows < 10 || shrinks < 10 || scans < 3 {
                // Fail rather than hang should resizes stop happening between calls.
                assert!(
                    scans < 1000,
                    "too few resizes: grows {grows} shrinks {shrinks}"
                );
                // Starting big makes even large counts take many calls per scan.
                churn.resize_to(&mut m, &mut rng, 2000);
                let mut owed: HashSet<Vec<u8>> = m.iter().map(|(f, _)| f.to_vec()).collect();
                let mut seen = HashSet::new();
                let mut cursor = 0;
                loop {
                    cursor = m.scan(cursor, count, |f, _| {
                        seen.insert(f.to_vec());
                    });
                    if cursor == 0 {
                        break;
                    }
                    let before = m.buckets.len();
                    let target = [0, 400, 2000, 5000][rng.below(4) as usize];
                    for f in churn.resize_to(&mut m, &mut rng, target) {
                        owed.remove(&f);
                    }
                    let after = m.buckets.len();
                    grows += usize::from(after > before);
                    shrinks += usize::from(after < before);
                }
                scans += 1;
                check_invariants(&m);
                assert!(stable.iter().all(|f| owed.contains(f)));
                assert!(owed.is_subset(&seen), "scan missed a field (count {count})");
            }
        }
    }

    #[test]
    fn scan_visits_buckets_in_memory_order() {
        let mut m = MultiMap::new();
        for i in 0..1000 {
            m.insert(&numbered(i), [&b"v"[..]]);
        }
        let buckets = m.buckets.len();
        let mut cursor = 0;
        let mut last_bucket = 0;
        loop {
            let next = m.scan(cursor, 1, |f, _| {
                let bucket = m.bucket_of(m.hash(f));
                assert!(bucket >= last_bucket, "bucket {bucket} after {last_bucket}");
                last_bucket = bucket;
            });
            if next == 0 {
                break;
            }
            assert!(scan_position(next, buckets) > scan_position(cursor, buckets));
            cursor = next;
        }
        assert!(
            last_bucket > buckets / 2,
            "the scan ended at bucket {last_bucket}"
        );
    }

    #[test]
    fn cursor_resumed_in_a_resized_table_skips_only_visited_hashes() {
        // Stop a scan of 8 buckets after each bucket, resume it in a table of 4 or of 16: every
        // bucket before the one it resumes at holds only hashes the scan of 8 has visited.
        for stopped_after in 0..8u64 {
            let cursor = (stopped_after + 1) << bucket_shift(8);
            for buckets in [4usize, 16] {
                let shift = bucket_shift(buckets);
                let resumed = scan_position(cursor, buckets);
                for bucket in 0..resumed {
                    let highest_hash = ((bucket + 1) << shift) - 1;
                    assert!(
                        scan_position(highest_hash, 8) <= stopped_after,
                        "bucket {bucket} of {buckets} skipped after bucket {stopped_after} of 8"
                    );
                }
            }
        }
    }
}
