#![forbid(unsafe_code)]
//! Scaffolding: the list operations built on `get` and `replace`, correct
//! but O(N) per call, so the commands can be tested end to end while the
//! packed implementation is written; replaced by it before issue 11 closes.
use super::{MultiMap, Values};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}
#[derive(Debug, PartialEq, Eq)]
pub enum SetError {
    NoSuchField,
    IndexOutOfRange,
}

fn owned(v: Values) -> Vec<Vec<u8>> {
    v.iter().map(<[u8]>::to_vec).collect()
}
fn norm(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { i.checked_add(len)? } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

impl MultiMap {
    pub fn prepend<'v, I>(&mut self, field: &[u8], values: I) -> usize
    where
        I: IntoIterator<Item = &'v [u8]>,
        I::IntoIter: Clone,
    {
        let mut all: Vec<Vec<u8>> = values.into_iter().map(<[u8]>::to_vec).collect();
        if let Some(v) = self.get(field) {
            all.extend(owned(v));
        }
        self.replace(field, all.iter().map(Vec::as_slice))
    }
    pub fn add_missing<'v>(
        &mut self,
        field: &[u8],
        values: impl IntoIterator<Item = &'v [u8]>,
    ) -> usize {
        let mut all = self.get(field).map(owned).unwrap_or_default();
        let mut n = 0;
        for v in values {
            if !all.iter().any(|x| x == v) {
                all.push(v.to_vec());
                n += 1;
            }
        }
        self.replace(field, all.iter().map(Vec::as_slice));
        n
    }
    pub fn pop(&mut self, field: &[u8], end: End, count: usize) -> Option<Vec<Vec<u8>>> {
        let mut all = owned(self.get(field)?);
        let n = count.min(all.len());
        let out: Vec<Vec<u8>> = match end {
            End::Left => all.drain(..n).collect(),
            End::Right => all.drain(all.len() - n..).rev().collect(),
        };
        self.replace(field, all.iter().map(Vec::as_slice));
        Some(out)
    }
    pub fn set_value(&mut self, field: &[u8], index: i64, value: &[u8]) -> Result<bool, SetError> {
        let mut all = owned(self.get(field).ok_or(SetError::NoSuchField)?);
        let i = norm(index, all.len()).ok_or(SetError::IndexOutOfRange)?;
        if all[i] == value {
            return Ok(false);
        }
        all[i] = value.to_vec();
        self.replace(field, all.iter().map(Vec::as_slice));
        Ok(true)
    }
    pub fn trim(&mut self, field: &[u8], start: i64, stop: i64) -> usize {
        let Some(v) = self.get(field) else { return 0 };
        let before = v.len();
        let kept = owned_iter(v.range(start, stop));
        self.replace(field, kept.iter().map(Vec::as_slice));
        before - kept.len()
    }
}
fn owned_iter(v: super::ValuesIter) -> Vec<Vec<u8>> {
    v.map(<[u8]>::to_vec).collect()
}
impl<'a> Values<'a> {
    pub fn get(&self, index: i64) -> Option<&'a [u8]> {
        let i = norm(index, self.len())?;
        self.iter().nth(i)
    }
    pub fn positions(&self, value: &[u8], rank: i64, count: usize, maxlen: usize) -> Vec<usize> {
        let len = self.len();
        let idx: Vec<usize> = if rank > 0 {
            (0..len).collect()
        } else {
            (0..len).rev().collect()
        };
        let all: Vec<&[u8]> = self.iter().collect();
        let mut matches = 0u64;
        let mut out = Vec::new();
        for (scanned, i) in idx.into_iter().enumerate() {
            if maxlen != 0 && scanned >= maxlen {
                break;
            }
            if all[i] == value {
                matches += 1;
                if matches >= rank.unsigned_abs() {
                    out.push(i);
                    if count != 0 && out.len() >= count {
                        break;
                    }
                }
            }
        }
        out
    }
}
