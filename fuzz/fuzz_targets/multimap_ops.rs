//! Drives the MultiMap with arbitrary operations and compares every result
//! with a plain `HashMap` model.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use redis_multimap::multimap::MultiMap;

type Model = HashMap<Vec<u8>, Vec<Vec<u8>>>;

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
        (0..len).map(|_| self.bytes()).collect()
    }
}

fn run(input: &mut Input, map: &mut MultiMap, model: &mut Model) -> Option<()> {
    let op = input.byte()? % 7;
    let field = input.bytes()?;
    match op {
        0 => {
            let values = input.list()?;
            let got = map.insert(&field, values.iter().map(Vec::as_slice));
            if !values.is_empty() {
                model.entry(field.clone()).or_default().extend(values);
            }
            assert_eq!(got, model.get(&field).map_or(0, Vec::len));
        }
        1 => {
            let values = input.list()?;
            let got = map.replace(&field, values.iter().map(Vec::as_slice));
            assert_eq!(got, values.len());
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
            let (start, stop) = (
                i64::from(input.byte()? as i8),
                i64::from(input.byte()? as i8),
            );
            let expected: Vec<Vec<u8>> = model.get(&field).map_or_else(Vec::new, |values| {
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
            });
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

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut map = MultiMap::new();
    let mut model = Model::new();
    while run(&mut input, &mut map, &mut model).is_some() {
        assert_eq!(map.field_count(), model.len());
        assert_eq!(
            map.value_count(),
            model.values().map(Vec::len).sum::<usize>()
        );
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
