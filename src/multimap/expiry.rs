//! Field expiry times. A map only holds them once one of its fields has an
//! expiry (`MultiMap::expiries` is `None` until then), so a map without any
//! pays one empty pointer and no work.
//!
//! Two views of the same times: `times`, beside the entry table, answers
//! "when does this field expire" in O(1) for every read that meets a field;
//! `order` keeps the fields that have one sorted by time, with their value
//! counts, so that the earliest is at hand for active expiry and "how many
//! fields and values have expired by now" costs a walk over blocks, not
//! over fields.

#![forbid(unsafe_code)]

use super::blocks::{MeasureBlocks, MoveBlocks};

/// Items per block of `Order` before it splits in two...
const MAX_BLOCK: usize = 128;
/// ...and below which it merges with a neighbour that has room.
const MIN_BLOCK: usize = MAX_BLOCK / 4;

#[derive(Clone, Default)]
pub(super) struct Expiries {
    /// Parallel to the map's entries: each field's expiry in Unix time
    /// milliseconds, or 0 for none. Expiry times are never 0: a time that
    /// is not in the future deletes the field instead.
    times: Vec<u64>,
    order: Order,
}

/// One field with an expiry: `entry` is its position in the table, which
/// tells apart fields expiring at the same millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    time: u64,
    entry: u32,
    values: u32,
}

impl Item {
    fn key(&self) -> (u64, u32) {
        (self.time, self.entry)
    }
}

/// Items sorted by `(time, entry)`, in blocks of at most `MAX_BLOCK`: an
/// insertion or removal moves at most a block's worth, and each block sums
/// its values so counting the expired ones skips whole blocks.
#[derive(Clone, Default)]
struct Order {
    blocks: Vec<Block>,
    len: usize,
}

#[derive(Clone)]
struct Block {
    /// Never empty.
    items: Vec<Item>,
    values: u64,
}

impl Block {
    fn new(items: Vec<Item>) -> Block {
        let values = items.iter().map(|item| u64::from(item.values)).sum();
        Block { items, values }
    }

    fn last_key(&self) -> (u64, u32) {
        self.items[self.items.len() - 1].key()
    }
}

impl Order {
    /// The block where `key` is or would go: the first whose last item is
    /// not below it, else the last block.
    fn block_of(&self, key: (u64, u32)) -> usize {
        self.blocks
            .partition_point(|block| block.last_key() < key)
            .min(self.blocks.len().saturating_sub(1))
    }

    fn insert(&mut self, item: Item) {
        self.len += 1;
        if self.blocks.is_empty() {
            self.blocks.push(Block::new(vec![item]));
            return;
        }
        let b = self.block_of(item.key());
        let block = &mut self.blocks[b];
        let at = block
            .items
            .partition_point(|other| other.key() < item.key());
        block.items.insert(at, item);
        block.values += u64::from(item.values);
        if block.items.len() > MAX_BLOCK {
            let tail = block.items.split_off(block.items.len() / 2);
            block.values -= tail.iter().map(|item| u64::from(item.values)).sum::<u64>();
            block.items.shrink_to(MAX_BLOCK);
            self.blocks.insert(b + 1, Block::new(tail));
        }
    }

    /// Takes the item at `key` out; panics if there is none (the caller's
    /// `times` said there was).
    fn remove(&mut self, key: (u64, u32)) -> Item {
        let (b, at) = self.position(key);
        let block = &mut self.blocks[b];
        let item = block.items.remove(at);
        block.values -= u64::from(item.values);
        self.len -= 1;
        if block.items.is_empty() {
            self.blocks.remove(b);
        } else if block.items.len() < MIN_BLOCK {
            self.merge_with_a_neighbour(b);
        }
        item
    }

    /// The block and place in it of the item at `key`, which the caller's
    /// `times` says is there.
    fn position(&self, key: (u64, u32)) -> (usize, usize) {
        let b = self.block_of(key);
        let at = self.blocks[b]
            .items
            .binary_search_by_key(&key, Item::key)
            .expect("an expiry time kept in both views");
        (b, at)
    }

    fn merge_with_a_neighbour(&mut self, b: usize) {
        let fits = |other: &Block| self.blocks[b].items.len() + other.items.len() <= MAX_BLOCK;
        let (first, second) = if b + 1 < self.blocks.len() && fits(&self.blocks[b + 1]) {
            (b, b + 1)
        } else if b > 0 && fits(&self.blocks[b - 1]) {
            (b - 1, b)
        } else {
            return;
        };
        let merged = self.blocks.remove(second);
        let into = &mut self.blocks[first];
        into.items.extend_from_slice(&merged.items);
        into.values += merged.values;
    }

    fn set_values(&mut self, key: (u64, u32), values: u32) {
        let (b, at) = self.position(key);
        let block = &mut self.blocks[b];
        let item = &mut block.items[at];
        block.values = block.values - u64::from(item.values) + u64::from(values);
        item.values = values;
    }

    fn first(&self) -> Option<Item> {
        self.blocks.first().map(|block| block.items[0])
    }

    /// How many items, and how many values they count, have a time at or
    /// before `now`. O(blocks) at worst, and O(1) when nothing has expired.
    fn expired(&self, now: u64) -> (usize, u64) {
        let (mut items, mut values) = (0, 0);
        for block in &self.blocks {
            if block.items[block.items.len() - 1].time <= now {
                items += block.items.len();
                values += block.values;
                continue;
            }
            let due = block.items.partition_point(|item| item.time <= now);
            items += due;
            values += block.items[..due]
                .iter()
                .map(|item| u64::from(item.values))
                .sum::<u64>();
            break;
        }
        (items, values)
    }
}

impl Expiries {
    /// No field has an expiry yet, among `fields` fields.
    pub(super) fn new(fields: usize) -> Expiries {
        Expiries {
            times: vec![0; fields],
            order: Order::default(),
        }
    }

    /// When entry `i` expires; 0 for never.
    #[inline]
    pub(super) fn time(&self, i: usize) -> u64 {
        self.times[i]
    }

    /// Whether entry `i` has expired at `now` (0: nothing has).
    #[inline]
    pub(super) fn has_expired(&self, i: usize, now: u64) -> bool {
        let time = self.times[i];
        time != 0 && time <= now
    }

    pub(super) fn times(&self) -> &[u64] {
        &self.times
    }

    /// Fields with an expiry.
    pub(super) fn len(&self) -> usize {
        self.order.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.order.len == 0
    }

    /// The earliest expiry and the entry it is for.
    pub(super) fn earliest(&self) -> Option<(u64, usize)> {
        self.order
            .first()
            .map(|item| (item.time, item.entry as usize))
    }

    /// Fields, and values in them, that have expired at `now`.
    pub(super) fn expired(&self, now: u64) -> (usize, usize) {
        if now == 0 {
            return (0, 0);
        }
        let (fields, values) = self.order.expired(now);
        (fields, values as usize)
    }

    /// Entry `i`, holding `values` values, expires at `time` (not 0).
    pub(super) fn set(&mut self, i: usize, time: u64, values: usize) {
        debug_assert!(time != 0);
        self.clear(i);
        self.times[i] = time;
        self.order.insert(Item {
            time,
            entry: i as u32,
            values: values as u32,
        });
    }

    /// Entry `i` no longer expires; true if it did.
    pub(super) fn clear(&mut self, i: usize) -> bool {
        let time = std::mem::take(&mut self.times[i]);
        if time == 0 {
            return false;
        }
        self.order.remove((time, i as u32));
        true
    }

    /// An entry was added at the end of the table, without an expiry.
    pub(super) fn pushed(&mut self) {
        self.times.push(0);
    }

    /// Entry `i` is going, and the last entry `last` takes its place.
    pub(super) fn removed(&mut self, i: usize, last: usize) {
        self.clear(i);
        if i != last && self.times[last] != 0 {
            let time = self.times[last];
            let moved = self.order.remove((time, last as u32));
            self.order.insert(Item {
                entry: i as u32,
                ..moved
            });
        }
        self.times.swap_remove(i);
    }

    /// Entry `i` now holds `values` values.
    #[inline]
    pub(super) fn values_changed(&mut self, i: usize, values: usize) {
        let time = self.times[i];
        if time != 0 {
            self.order.set_values((time, i as u32), values as u32);
        }
    }

    /// Bytes of heap these tables take.
    pub(super) fn mem_usage(&self, blocks: &impl MeasureBlocks) -> usize {
        blocks.vec_block(&self.times)
            + blocks.vec_block(&self.order.blocks)
            + self
                .order
                .blocks
                .iter()
                .map(|block| blocks.vec_block(&block.items))
                .sum::<usize>()
    }

    /// Offers every heap block of these tables to `mover`: a block per 128
    /// expiring fields, so even a big table is a short step.
    pub(super) fn defrag(&mut self, mover: &mut impl MoveBlocks) {
        mover.move_vec(&mut self.times);
        mover.move_vec(&mut self.order.blocks);
        for block in &mut self.order.blocks {
            mover.move_vec(&mut block.items);
        }
    }

    /// Checks that both views agree and the blocks are well formed.
    #[cfg(test)]
    pub(super) fn check(&self, fields: usize, len_of: impl Fn(usize) -> usize) {
        assert_eq!(self.times.len(), fields, "one time per field");
        let items: Vec<Item> = self
            .order
            .blocks
            .iter()
            .flat_map(|block| {
                assert!(!block.items.is_empty() && block.items.len() <= MAX_BLOCK);
                let sum: u64 = block.items.iter().map(|item| u64::from(item.values)).sum();
                assert_eq!(sum, block.values, "block value sum");
                block.items.iter().copied()
            })
            .collect();
        assert_eq!(items.len(), self.order.len);
        assert!(items.windows(2).all(|w| w[0].key() < w[1].key()), "sorted");
        let with_time = self.times.iter().filter(|&&time| time != 0).count();
        assert_eq!(with_time, items.len(), "both views hold the same fields");
        for item in items {
            assert_eq!(self.times[item.entry as usize], item.time);
            assert_eq!(item.values as usize, len_of(item.entry as usize));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multimap::test_support::Rng;

    fn check(expiries: &Expiries, lens: &[usize]) {
        expiries.check(lens.len(), |i| lens[i]);
    }

    #[test]
    fn counts_what_expired_by_a_time_across_blocks() {
        let n = 1000;
        let mut expiries = Expiries::new(n);
        let lens: Vec<usize> = (0..n).map(|i| i % 7 + 1).collect();
        for (i, &len) in lens.iter().enumerate() {
            // Times 1..=100, ten fields each, in scrambled order.
            expiries.set(i, (i * 37 % n) as u64 / 10 + 1, len);
        }
        check(&expiries, &lens);
        assert_eq!(expiries.expired(0), (0, 0));
        let model = |now: u64| {
            let due: Vec<usize> = (0..n).filter(|&i| expiries.time(i) <= now).collect();
            (due.len(), due.iter().map(|&i| lens[i]).sum::<usize>())
        };
        for now in [1, 2, 50, 99, 100, 101, u64::MAX] {
            assert_eq!(expiries.expired(now), model(now), "now {now}");
        }
        assert_eq!(expiries.earliest().map(|(time, _)| time), Some(1));
    }

    #[test]
    fn a_million_fields_at_the_same_millisecond_stay_cheap_to_remove() {
        let n = 1_000_000;
        let mut expiries = Expiries::new(n);
        for i in 0..n {
            expiries.set(i, 42, 1);
        }
        assert_eq!(expiries.expired(42), (n, n));
        // Removing from the table's end, as the map's swap-remove does.
        for last in (0..n).rev() {
            let (time, entry) = expiries.earliest().expect("fields left");
            assert_eq!(time, 42);
            expiries.removed(entry, last);
        }
        assert!(expiries.is_empty());
        assert!(expiries.times().is_empty());
    }

    #[test]
    fn random_changes_keep_both_views_in_step() {
        let mut rng = Rng(12);
        let mut pick = |n: usize| rng.below(n as u64) as usize;
        let mut expiries = Expiries::new(0);
        let mut lens: Vec<usize> = Vec::new();
        for _ in 0..20_000 {
            match pick(6) {
                0 | 1 => {
                    expiries.pushed();
                    lens.push(1 + pick(5));
                }
                2 if !lens.is_empty() => {
                    let i = pick(lens.len());
                    let last = lens.len() - 1;
                    expiries.removed(i, last);
                    lens.swap_remove(i);
                }
                3 if !lens.is_empty() => {
                    let i = pick(lens.len());
                    expiries.set(i, 1 + pick(50) as u64, lens[i]);
                }
                4 if !lens.is_empty() => {
                    let i = pick(lens.len());
                    let had = expiries.time(i) != 0;
                    assert_eq!(expiries.clear(i), had);
                }
                5 if !lens.is_empty() => {
                    let i = pick(lens.len());
                    lens[i] = 1 + pick(1000);
                    expiries.values_changed(i, lens[i]);
                }
                _ => {}
            }
        }
        check(&expiries, &lens);
        let now = 25;
        let due: Vec<usize> = (0..lens.len())
            .filter(|&i| expiries.has_expired(i, now))
            .collect();
        let values = due.iter().map(|&i| lens[i]).sum();
        assert_eq!(expiries.expired(now), (due.len(), values));
    }
}
