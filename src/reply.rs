//! What MULTIMAP commands reply. Replies that list values borrow them from the
//! map and are written straight from its storage, one value at a time.
#![forbid(unsafe_code)]

use crate::ffi::{ReplyOut, WriteReply};
use crate::multimap::{TakenValue, Values, ValuesIter, View};

pub enum Reply<'a> {
    Integer(i64),
    Ok,
    /// A missing value (a null bulk string).
    Null,
    /// A missing array, as a pop from a missing list or a timed-out blocking
    /// pop replies.
    NullArray,
    Value(&'a [u8]),
    /// A value taken out of the map.
    Taken(TakenValue),
    /// Values taken out of the map, in the order they were taken.
    TakenValues(Vec<Vec<u8>>),
    Integers(Vec<usize>),
    /// Signed integers, as per-field codes and times.
    Codes(Vec<i64>),
    EmptyArray,
    /// A RESP3 empty map (an empty array under RESP2).
    EmptyMap,
    Values(ValuesIter<'a>),
    FieldNames(View<'a>),
    /// Every field with its values, as a map.
    Everything(View<'a>),
    /// `[next cursor, [field, [values], field, [values], ...]]`.
    ScanPage {
        cursor: u64,
        found: Vec<(&'a [u8], Values<'a>)>,
    },
}

impl Reply<'_> {
    /// Counts always fit: nothing in a map holds more than `i64::MAX` of anything.
    pub fn count(count: usize) -> Reply<'static> {
        Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX))
    }

    pub fn boolean(value: bool) -> Reply<'static> {
        Reply::Integer(i64::from(value))
    }
}

impl WriteReply for Reply<'_> {
    // Inlined into each handler's reply, where the variant is known, so the
    // match folds away.
    #[inline(always)]
    fn write(self, out: ReplyOut<'_>) {
        match self {
            Reply::Integer(value) => out.integer(value),
            Reply::Ok => out.simple(c"OK"),
            Reply::Null => out.null(),
            Reply::NullArray => out.null_array(),
            Reply::Value(value) => out.bulk(value),
            Reply::Taken(value) => out.bulk(value.as_bytes()),
            Reply::TakenValues(values) => out.array(values.iter(), |out, value| out.bulk(value)),
            Reply::Integers(integers) => out.array(integers.into_iter(), |out, integer| {
                out.integer(i64::try_from(integer).unwrap_or(i64::MAX))
            }),
            Reply::EmptyArray => out.array(std::iter::empty::<()>(), |_, ()| {}),
            Reply::EmptyMap => out.map(std::iter::empty::<()>(), |_, _, ()| {}),
            Reply::Values(values) => write_values(out, values),
            Reply::Codes(codes) => out.array(codes.into_iter(), |out, code| out.integer(code)),
            Reply::FieldNames(view) => out.array(view.iter(), |out, (field, _)| out.bulk(field)),
            Reply::Everything(view) => {
                out.map(view.iter(), |field_out, values_out, (field, values)| {
                    field_out.bulk(field);
                    write_values(values_out, values.iter());
                })
            }
            Reply::ScanPage { cursor, found } => {
                out.pairs(std::iter::once(found), |cursor_out, page_out, found| {
                    cursor_out.bulk(decimal(cursor, &mut [0; U64_DIGITS]));
                    page_out.pairs(
                        found.into_iter(),
                        |field_out, values_out, (field, values)| {
                            field_out.bulk(field);
                            write_values(values_out, values.iter());
                        },
                    );
                })
            }
        }
    }
}

/// The most decimal digits a u64 takes.
const U64_DIGITS: usize = 20;

/// `number` in decimal, written at the end of `digits`: a SCAN page's cursor
/// without allocating a string on every call.
fn decimal(mut number: u64, digits: &mut [u8; U64_DIGITS]) -> &[u8] {
    let mut start = U64_DIGITS;
    loop {
        start -= 1;
        digits[start] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            return &digits[start..];
        }
    }
}

fn write_values<'v>(out: ReplyOut<'_>, values: impl ExactSizeIterator<Item = &'v [u8]>) {
    out.array(values, |out, value| out.bulk(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_writes_every_digit_of_any_u64() {
        for number in [0, 7, 10, 4_611_686_018_427_387_904, u64::MAX] {
            let mut digits = [0; U64_DIGITS];
            assert_eq!(decimal(number, &mut digits), number.to_string().as_bytes());
        }
    }
}
