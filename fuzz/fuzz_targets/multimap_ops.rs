//! Drives the MultiMap with arbitrary operations and compares every result
//! with a plain `HashMap` model, field expiries included (times are small
//! numbers, so that expiring, persisting and reading at a time all meet).
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use redis_multimap::multimap::{End, FieldExpiry, MultiMap, SetError};

type Model = HashMap<Vec<u8>, Vec<Vec<u8>>>;
/// Each field's expiry time, for the fields that have one.
type Expiries = HashMap<Vec<u8>, u64>;

/// Reads the fuzzer's bytes as small numbers and short byte strings.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    /// Names from a small alphabet, so operations meet the same fields.
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = usize::from(self.byte()? % 4);
        (0..len).map(|_| self.byte().map(|b| b % 3)).collect()
    }

    fn list(&mut self) -> Option<Vec<Vec<u8>>> {
        let len = usize::from(self.byte()? % 5);
        (0..len).map(|_| self.value()).collect()
    }

    /// A list, sometimes repeated to hundreds of values, so that fields
    /// reach the lengths that have checkpoints (and the indexes `index`
    /// reads fall between them).
    fn many(&mut self) -> Option<Vec<Vec<u8>>> {
        let list = self.list()?;
        let times = match self.byte()? {
            repeat @ 0..=15 => 1 + 16 * usize::from(repeat),
            _ => 1,
        };
        Some(list.iter().cycle().take(list.len() * times).cloned().collect())
    }

    /// Mostly short values, sometimes one long enough that its length and
    /// back-length take two bytes, so that moving values around meets both.
    fn value(&mut self) -> Option<Vec<u8>> {
        let value = self.bytes()?;
        if value.first() == Some(&2) && value.len() == 3 {
            return Some(vec![value[1]; 150 + usize::from(value[2])]);
        }
        Some(value)
    }

    fn index(&mut self) -> Option<i64> {
        Some(i64::from(self.byte()? as i8))
    }
}

/// LINDEX's reading of an index into a list of `len`.
fn position(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let index = if index < 0 { index + len } else { index };
    (0..len).contains(&index).then_some(index as usize)
}

/// LRANGE's (and LTRIM's) reading of `start..=stop`.
fn map_range(values: &[Vec<u8>], start: i64, stop: i64) -> Vec<Vec<u8>> {
    let len = values.len() as i64;
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
        Vec::new()
    } else {
        values[start as usize..=stop as usize].to_vec()
    }
}

/// Drops a field the model left empty, as the map does.
fn settle(model: &mut Model, field: &[u8]) {
    if model.get(field).is_some_and(Vec::is_empty) {
        model.remove(field);
    }
}

fn run(
    input: &mut Input,
    map: &mut MultiMap,
    model: &mut Model,
    expiries: &mut Expiries,
) -> Option<()> {
    let op = input.byte()? % 16;
    let field = input.bytes()?;
    match op {
        0 => {
            let values = input.many()?;
            let got = map.insert(&field, values.iter().map(Vec::as_slice));
            if !values.is_empty() {
                model.entry(field.clone()).or_default().extend(values);
            }
            assert_eq!(got, model.get(&field).map_or(0, Vec::len));
        }
        1 => {
            let values = input.list()?;
            let got = map.replace(&field, values.iter().map(Vec::as_slice));
            assert_eq!(got.len, values.len());
            let had_expiry = expiries.remove(&field).is_some();
            let same = model.get(&field).map_or(values.is_empty(), |held| *held == values);
            assert_eq!(got.changed, !same || (had_expiry && !values.is_empty()));
            if values.is_empty() {
                model.remove(&field);
            } else {
                model.insert(field, values);
            }
        }
        2 => {
            let unwanted = input.list()?;
            let slices: Vec<&[u8]> = unwanted.iter().map(Vec::as_slice).collect();
            let got = map.remove_values(&field, &slices);
            let mut removed = 0;
            if let Some(values) = model.get_mut(&field) {
                let before = values.len();
                values.retain(|value| !unwanted.contains(value));
                removed = before - values.len();
                if values.is_empty() {
                    model.remove(&field);
                }
            }
            assert_eq!(got, removed);
        }
        3 => assert_eq!(map.remove_field(&field), model.remove(&field).is_some()),
        4 => {
            let (start, stop) = (input.index()?, input.index()?);
            let expected: Vec<Vec<u8>> = model
                .get(&field)
                .map_or_else(Vec::new, |values| map_range(values, start, stop));
            let got: Vec<Vec<u8>> = map.get(&field).map_or_else(Vec::new, |values| {
                values.range(start, stop).map(<[u8]>::to_vec).collect()
            });
            assert_eq!(got, expected);
        }
        5 => {
            let got = map
                .get(&field)
                .map(|values| values.iter().rev().map(<[u8]>::to_vec).collect::<Vec<_>>());
            let expected = model
                .get(&field)
                .map(|values| values.iter().rev().cloned().collect::<Vec<_>>());
            assert_eq!(got, expected);
        }
        7 => {
            let values = input.many()?;
            let got = map.prepend(&field, values.iter().map(Vec::as_slice));
            if !values.is_empty() {
                let slot = model.entry(field.clone()).or_default();
                slot.splice(0..0, values);
            }
            assert_eq!(got, model.get(&field).map_or(0, Vec::len));
        }
        8 => {
            let values = input.list()?;
            let got = map.add_missing(&field, values.iter().map(Vec::as_slice));
            let slot = model.entry(field.clone()).or_default();
            let before = slot.len();
            for value in values {
                if !slot.contains(&value) {
                    slot.push(value);
                }
            }
            assert_eq!(got, slot.len() - before);
            settle(model, &field);
        }
        9 => {
            let end = if input.byte()? % 2 == 0 {
                End::Left
            } else {
                End::Right
            };
            let count = usize::from(input.byte()? % 4);
            let got = map.pop(&field, end, count);
            let expected = model.get_mut(&field).map(|values| {
                let count = count.min(values.len());
                match end {
                    End::Left => values.drain(..count).collect::<Vec<_>>(),
                    End::Right => values.drain(values.len() - count..).rev().collect(),
                }
            });
            assert_eq!(got, expected);
            settle(model, &field);
        }
        10 => {
            let (index, value) = (input.index()?, input.value()?);
            let got = map.set_value(&field, index, &value);
            let expected = match model.get_mut(&field) {
                None => Err(SetError::NoSuchField),
                Some(values) => match position(index, values.len()) {
                    None => Err(SetError::IndexOutOfRange),
                    Some(at) => Ok(std::mem::replace(&mut values[at], value.clone()) != value),
                },
            };
            assert_eq!(got, expected);
        }
        11 => {
            let (start, stop) = (input.index()?, input.index()?);
            let got = map.trim(&field, start, stop);
            let mut removed = 0;
            if let Some(values) = model.get_mut(&field) {
                let kept: Vec<Vec<u8>> = map_range(values, start, stop);
                removed = values.len() - kept.len();
                *values = kept;
            }
            settle(model, &field);
            assert_eq!(got, removed);
            let index = input.index()?;
            let got = map.get(&field).and_then(|values| values.get(index));
            let expected = model
                .get(&field)
                .and_then(|values| position(index, values.len()).map(|at| &values[at][..]));
            assert_eq!(got, expected);
        }
        12 => {
            let value = input.value()?;
            let rank = input.index()?.max(-100);
            let rank = if rank == 0 { 1 } else { rank };
            let (count, maxlen) = (
                usize::from(input.byte()? % 4),
                usize::from(input.byte()? % 8),
            );
            let got = map
                .get(&field)
                .map(|values| values.positions(&value, rank, count, maxlen));
            let expected = model.get(&field).map(|values| {
                let order: Vec<usize> = if rank > 0 {
                    (0..values.len()).collect()
                } else {
                    (0..values.len()).rev().collect()
                };
                let scanned = if maxlen == 0 {
                    order.len()
                } else {
                    maxlen.min(order.len())
                };
                let matches = order[..scanned].iter().filter(|&&at| values[at] == value);
                let from_rank = matches.skip(rank.unsigned_abs() as usize - 1).copied();
                if count == 0 {
                    from_rank.collect::<Vec<_>>()
                } else {
                    from_rank.take(count).collect()
                }
            });
            assert_eq!(got, expected);
        }
        13 => {
            let time = 1 + u64::from(input.byte()? % 8);
            let set = map.set_expiry(&field, time);
            assert_eq!(set, model.contains_key(&field));
            if set {
                expiries.insert(field.clone(), time);
            }
        }
        14 => assert_eq!(map.persist(&field), expiries.remove(&field).is_some()),
        15 => {
            let now = u64::from(input.byte()? % 10);
            while let Some(removed) = map.remove_first_expired(now) {
                let time = expiries.remove(&removed).expect("an expiring field");
                assert!(now != 0 && time <= now);
                assert!(expiries.values().all(|&other| other >= time), "earliest first");
                model.remove(&removed).expect("a field of the model");
            }
            assert!(now == 0 || expiries.values().all(|&time| time > now));
        }
        _ => {
            let value = input.bytes()?;
            let got = map
                .get(&field)
                .is_some_and(|values| values.contains(&value));
            assert_eq!(
                got,
                model
                    .get(&field)
                    .is_some_and(|values| values.contains(&value))
            );
        }
    }
    Some(())
}

/// What the map shows at `now`: the model without the fields expired by then.
fn check_view(map: &MultiMap, model: &Model, expiries: &Expiries, now: u64) {
    let view = map.view(now);
    let live = |field: &Vec<u8>| expiries.get(field).is_none_or(|&time| now == 0 || time > now);
    let fields = model.keys().filter(|field| live(field)).count();
    let values: usize = model
        .iter()
        .filter(|(field, _)| live(field))
        .map(|(_, values)| values.len())
        .sum();
    assert_eq!((view.field_count(), view.value_count()), (fields, values));
    assert_eq!(view.iter().count(), fields);
    for (field, values) in model {
        let expected = match (live(field), expiries.get(field)) {
            (false, _) => FieldExpiry::Missing,
            (true, None) => FieldExpiry::Never,
            (true, Some(&time)) => FieldExpiry::At(time),
        };
        assert_eq!(view.expiry(field), expected);
        let got = view.get(field).map(|v| v.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
        assert_eq!(got.as_ref(), live(field).then_some(values));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut map = MultiMap::new();
    let mut model = Model::new();
    let mut expiries = Expiries::new();
    while run(&mut input, &mut map, &mut model, &mut expiries).is_some() {
        // A field that left the model took its expiry with it.
        expiries.retain(|field, _| model.contains_key(field));
        assert_eq!(map.field_count(), model.len());
        assert_eq!(
            map.value_count(),
            model.values().map(Vec::len).sum::<usize>()
        );
        assert_eq!(map.expiring_field_count(), expiries.len());
        assert_eq!(map.earliest_expiry(), expiries.values().min().copied());
        check_view(&map, &model, &expiries, u64::from(data.len() as u8 % 10));
    }
    let mut cursor = 0;
    let mut seen = 0;
    loop {
        cursor = map.scan(cursor, 3, |field, values| {
            assert_eq!(
                Some(&values.iter().map(<[u8]>::to_vec).collect::<Vec<_>>()),
                model.get(field)
            );
            seen += 1;
        });
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(
        seen,
        model.len(),
        "an unchanged map scans each field exactly once"
    );
});
