//! The map's heap blocks as the allocator sees them: what they really cost
//! (MEMORY USAGE) and moving them out of sparsely used memory (active
//! defragmentation). The allocator itself is behind two traits, so this file
//! stays free of any server: unit tests measure and move with models.
//!
//! A map owns a block for its entry slots, one for its bucket heads, and one
//! per field; the block holding the map itself belongs to whoever owns it.

#![forbid(unsafe_code)]

use super::{MultiMap, Sides};

/// Measures heap blocks as the allocator counts them.
pub trait MeasureBlocks {
    /// Bytes the block holding `vec`'s elements takes; 0 when there is none.
    // A slice would lose the capacity, which is what sizes the block.
    #[allow(clippy::ptr_arg)]
    fn vec_block<T>(&self, vec: &Vec<T>) -> usize;
    /// Bytes the block holding a boxed slice takes; 0 when there is none.
    // The owning box, not a slice: only its pointer is known to start a block.
    #[allow(clippy::borrowed_box)]
    fn boxed_slice_block<T>(&self, slice: &Box<[T]>) -> usize;
}

/// Moves heap blocks to where the allocator would rather have them.
pub trait MoveBlocks {
    /// Moves the block holding `vec`'s elements, or leaves it where it is;
    /// `vec` holds the same elements and capacity either way.
    fn move_vec<T>(&mut self, vec: &mut Vec<T>);
    /// Whether the time for this pass is up.
    fn should_stop(&self) -> bool;
}

/// Work between two `should_stop` checks: one unit per field, plus one per
/// 4 KiB of its block, since moving a big field copies all of it.
const WORK_BETWEEN_CHECKS: usize = 16;
const BYTES_PER_WORK_UNIT: usize = 4096;

impl MultiMap {
    /// Bytes this map holds in heap blocks, not counting the map itself.
    pub fn mem_usage(&self, blocks: &impl MeasureBlocks) -> usize {
        blocks.vec_block(&self.entries)
            + blocks.boxed_slice_block(&self.buckets)
            + self
                .entries
                .iter()
                .map(|entry| blocks.vec_block(&entry.data))
                .sum::<usize>()
            + self.sides.as_ref().map_or(0, |sides| {
                std::mem::size_of_val::<Sides>(sides)
                    + sides
                        .expiries
                        .as_ref()
                        .map_or(0, |expiries| expiries.mem_usage(blocks))
                    + sides.value_sets.mem_usage(blocks)
            })
    }

    /// Offers every heap block of the map to `mover`, fields from position
    /// `from` on (0 starts with the table's own blocks). Returns where to go
    /// on when `mover` says to stop first, so a map of millions of fields is
    /// done over many short passes. The map may change between passes: a
    /// position past its end just finishes, and fields that moved in the
    /// table meanwhile may be offered twice or wait for the next full run.
    pub fn defrag(&mut self, mover: &mut impl MoveBlocks, from: usize) -> Option<usize> {
        if from == 0 {
            mover.move_vec(&mut self.entries);
            // A boxed slice is a Vec whose capacity is its length: the
            // round trip neither copies nor reallocates.
            let mut buckets = std::mem::take(&mut self.buckets).into_vec();
            mover.move_vec(&mut buckets);
            self.buckets = buckets.into_boxed_slice();
            if let Some(sides) = &mut self.sides {
                if let Some(expiries) = &mut sides.expiries {
                    expiries.defrag(mover);
                }
                sides.value_sets.defrag(mover);
            }
        }
        let mut work = 0;
        for position in from..self.entries.len() {
            let data = &mut self.entries[position].data;
            work += 1 + data.capacity() / BYTES_PER_WORK_UNIT;
            mover.move_vec(data);
            if work >= WORK_BETWEEN_CHECKS {
                work = 0;
                let next = position + 1;
                if next < self.entries.len() && mover.should_stop() {
                    return Some(next);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::mem::{size_of, size_of_val};

    use super::*;
    use crate::multimap::size_class::heap_alloc;
    use crate::multimap::test_support::{check_invariants, numbered};
    use crate::multimap::{End, Entry};

    /// jemalloc's size classes, as Redis's default allocator rounds requests.
    struct SizeClasses;

    impl MeasureBlocks for SizeClasses {
        fn vec_block<T>(&self, vec: &Vec<T>) -> usize {
            heap_alloc(vec.capacity() * size_of::<T>())
        }

        fn boxed_slice_block<T>(&self, slice: &Box<[T]>) -> usize {
            heap_alloc(size_of_val::<[T]>(slice))
        }
    }

    /// Moves every block it is offered to a fresh one, and says stop once
    /// it has moved `budget` blocks in a pass.
    struct Mover {
        moved: Vec<usize>,
        budget: usize,
        pass_moves: usize,
    }

    impl Mover {
        fn new(budget: usize) -> Mover {
            Mover {
                moved: Vec::new(),
                budget,
                pass_moves: 0,
            }
        }
    }

    impl MoveBlocks for Mover {
        fn move_vec<T>(&mut self, vec: &mut Vec<T>) {
            if vec.capacity() == 0 {
                return;
            }
            let capacity = vec.capacity();
            let mut fresh = Vec::with_capacity(capacity);
            fresh.append(vec);
            assert_eq!(fresh.capacity(), capacity);
            *vec = fresh;
            self.moved.push(vec.as_ptr() as usize);
            self.pass_moves += 1;
        }

        fn should_stop(&self) -> bool {
            self.pass_moves >= self.budget
        }
    }

    fn sample_map(fields: usize, values_per_field: usize) -> MultiMap {
        let mut m = MultiMap::new();
        for i in 0..fields {
            let values: Vec<Vec<u8>> = (0..values_per_field)
                .map(|v| format!("{i}:{v}").into_bytes())
                .collect();
            m.insert(&numbered(i), values.iter().map(Vec::as_slice));
        }
        m
    }

    fn content(m: &MultiMap) -> HashSet<(Vec<u8>, Vec<Vec<u8>>)> {
        m.iter()
            .map(|(field, values)| (field.to_vec(), values.iter().map(<[u8]>::to_vec).collect()))
            .collect()
    }

    #[test]
    fn mem_usage_counts_every_block_as_measured() {
        let mut m = MultiMap::new();
        assert_eq!(m.mem_usage(&SizeClasses), 0, "an empty map has no blocks");
        m.insert(b"f", [&[7u8; 10_000][..]]);
        let one_big = m.mem_usage(&SizeClasses);
        let expected = heap_alloc(m.entries.capacity() * size_of::<Entry>())
            + heap_alloc(m.buckets.len() * size_of::<u32>())
            + heap_alloc(m.entries[0].data.capacity());
        assert_eq!(one_big, expected);
        assert!(one_big >= 10_000);
        for i in 0..100 {
            m.insert(&numbered(i), [&b"value"[..]]);
        }
        let many = m.mem_usage(&SizeClasses);
        assert!(many > one_big + 100 * (b"field-0".len() + b"value".len()));
        m.remove_field(b"f");
        assert!(m.mem_usage(&SizeClasses) < many - 10_000);
    }

    #[test]
    fn expiry_tables_are_measured_and_moved_with_the_map() {
        let mut m = sample_map(300, 1);
        let without = m.mem_usage(&SizeClasses);
        for i in 0..300 {
            m.set_expiry(&numbered(i), 1_000 + i as u64 % 7);
        }
        // 8 bytes per field beside the table, 16 per expiring field.
        assert!(m.mem_usage(&SizeClasses) >= without + 300 * 24);
        let mut mover = Mover::new(usize::MAX);
        assert_eq!(m.defrag(&mut mover, 0), None);
        // Entry slots, bucket heads, the times, the blocks' list, at least
        // three blocks of at most 128 fields, and one block per field.
        assert!(mover.moved.len() >= 2 + 2 + 3 + 300);
        check_invariants(&m);
        let live = (0..300).filter(|i| i % 7 > 3).count();
        assert_eq!(m.view(1_003).field_count(), live);
    }

    #[test]
    fn value_sets_are_measured_and_moved_with_the_map() {
        let mut m = sample_map(10, 1_000);
        let without = m.mem_usage(&SizeClasses);
        for i in 0..10 {
            assert_eq!(m.add_missing(&numbered(i), [&b"new"[..]]), 1);
        }
        // 1,001 distinct values: 2,048 slots of 8 bytes per field.
        let with = m.mem_usage(&SizeClasses);
        assert!(with >= without + 10 * 2_048 * 8, "{without} -> {with}");
        assert!(
            with <= without + 10 * 2_048 * 8 + 4_096,
            "{without} -> {with}"
        );
        let mut mover = Mover::new(usize::MAX);
        assert_eq!(m.defrag(&mut mover, 0), None);
        // Entry slots, bucket heads, each field's set, and each field.
        assert_eq!(mover.moved.len(), 2 + 10 + 10);
        check_invariants(&m);
        assert_eq!(m.mem_usage(&SizeClasses), with);
        for i in 0..10 {
            assert_eq!(m.add_missing(&numbered(i), [&b"new"[..]]), 0);
            assert_eq!(m.add_missing(&numbered(i), [&b"newer"[..]]), 1);
        }
        // A trim of a few values keeps the sets; changes the sets do not
        // follow drop them, and their memory.
        for i in 0..10 {
            assert_eq!(m.trim(&numbered(i), 0, 1_000), 1);
        }
        assert_eq!(m.mem_usage(&SizeClasses), with);
        check_invariants(&m);
        for i in 0..10 {
            assert_eq!(m.remove_values(&numbered(i), &[&b"new"[..]]), 1);
        }
        assert!(m.sides.is_none());
        assert_eq!(m.mem_usage(&SizeClasses), without);
    }

    #[test]
    fn defrag_moves_every_block_and_keeps_the_content() {
        let mut m = sample_map(100, 5);
        let before = content(&m);
        let mut mover = Mover::new(usize::MAX);
        assert_eq!(m.defrag(&mut mover, 0), None);
        // Entry slots, bucket heads, and one block per field.
        assert_eq!(mover.moved.len(), 2 + 100);
        assert_eq!(m.entries.as_ptr() as usize, mover.moved[0]);
        assert_eq!(m.buckets.as_ptr() as usize, mover.moved[1]);
        check_invariants(&m);
        assert_eq!(content(&m), before);
        for i in 0..100 {
            assert!(m.get(&numbered(i)).is_some());
        }
    }

    #[test]
    fn defrag_stops_when_told_and_resumes_where_it_stopped() {
        let mut m = sample_map(1000, 3);
        let before = content(&m);
        let mut mover = Mover::new(100);
        let mut from = 0;
        let mut passes = 0;
        while let Some(next) = m.defrag(&mut mover, from) {
            assert!(next > from && next < m.field_count(), "{from} -> {next}");
            from = next;
            mover.pass_moves = 0;
            passes += 1;
        }
        assert!(passes >= 5, "{passes} passes of about 100 moves each");
        let fields_moved: HashSet<usize> = mover.moved[2..].iter().copied().collect();
        assert_eq!(fields_moved.len(), 1000, "each field exactly once");
        assert_eq!(mover.moved.len(), 2 + 1000);
        check_invariants(&m);
        assert_eq!(content(&m), before);
    }

    #[test]
    fn defrag_checks_the_time_sooner_on_big_fields() {
        let mut m = MultiMap::new();
        for i in 0..20 {
            m.insert(&numbered(i), [&vec![b'x'; 64 * 1024][..]]);
        }
        let mut mover = Mover::new(0);
        assert_eq!(m.defrag(&mut mover, 0), Some(1));
    }

    #[test]
    fn defrag_tolerates_a_map_changed_between_passes() {
        let mut m = sample_map(500, 2);
        let mut mover = Mover::new(200);
        let next = m.defrag(&mut mover, 0).expect("stopped early");
        for i in 0..450 {
            m.remove_field(&numbered(i));
        }
        let before = content(&m);
        mover.pass_moves = 0;
        // The saved position is now past the end: the pass just finishes.
        assert!(next > m.field_count());
        assert_eq!(m.defrag(&mut mover, next), None);
        assert_eq!(m.defrag(&mut mover, usize::MAX), None);
        check_invariants(&m);
        assert_eq!(content(&m), before);
    }

    #[test]
    fn a_field_with_free_bytes_before_its_record_is_measured_and_moved_whole() {
        let mut m = sample_map(1, 1000);
        let field = numbered(0);
        m.pop(&field, End::Left, 10);
        assert!(m.entries[0].record_start() > 0, "popping left free bytes");
        // Checkpoints too, whose offsets count from the buffer's start.
        assert!(m.entries[0].is_indexed());
        let measured = m.mem_usage(&SizeClasses);
        assert!(measured >= heap_alloc(m.entries[0].data.capacity()));
        let before = content(&m);
        let mut mover = Mover::new(usize::MAX);
        assert_eq!(m.defrag(&mut mover, 0), None);
        assert_eq!(mover.moved.len(), 3);
        assert_eq!(m.mem_usage(&SizeClasses), measured);
        check_invariants(&m);
        assert_eq!(content(&m), before);
        assert_eq!(m.get(&field).map(|values| values.len()), Some(990));
        let middle = m.get(&field).and_then(|values| values.get(500));
        assert_eq!(middle, Some(&b"0:510"[..]));
    }
}
