//! Strings Redis lends to a callback, read as the bytes they hold.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::raw;

/// One command argument, borrowed for the command call.
#[repr(transparent)]
pub struct Arg {
    raw: NonNull<raw::RedisModuleString>,
}

/// A string of our own making, for naming a key outside of a command; freed
/// on drop.
pub struct OwnedArg(Arg);

impl OwnedArg {
    pub fn new(bytes: &[u8]) -> OwnedArg {
        // SAFETY: the buffer is valid for its length and the server copies
        // it; without a context the string is ours to free, which Drop does.
        let raw = unsafe {
            api!(RedisModule_CreateString)(std::ptr::null_mut(), bytes.as_ptr().cast(), bytes.len())
        };
        OwnedArg(Arg {
            raw: NonNull::new(raw).expect("the server's allocator never fails"),
        })
    }
}

impl std::ops::Deref for OwnedArg {
    type Target = Arg;

    fn deref(&self) -> &Arg {
        &self.0
    }
}

impl Drop for OwnedArg {
    fn drop(&mut self) {
        // SAFETY: made without a context in `new`, freed once, here; a key
        // opened with it holds a reference of its own.
        unsafe { api!(RedisModule_FreeString)(std::ptr::null_mut(), self.0.as_ptr()) };
    }
}

/// A string Redis passed to a callback, borrowed for that callback.
pub struct RedisStr<'a> {
    raw: NonNull<raw::RedisModuleString>,
    _call: PhantomData<&'a ()>,
}

impl Arg {
    /// The `argc` arguments Redis passed, as a slice.
    ///
    /// # Safety
    /// `argv` must point to `argc` live strings that outlive `'a`, or be null.
    pub(super) unsafe fn slice<'a>(
        argv: *mut *mut raw::RedisModuleString,
        argc: std::ffi::c_int,
    ) -> &'a [Arg] {
        match usize::try_from(argc) {
            // SAFETY: Arg is a transparent non-null pointer to a Redis string,
            // and the caller vouches for `argc` live ones at `argv`.
            Ok(len) if len > 0 && !argv.is_null() => unsafe {
                std::slice::from_raw_parts(argv.cast::<Arg>(), len)
            },
            _ => &[],
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: Redis keeps argv alive for the whole callback, which `&self`
        // cannot outlive.
        unsafe { bytes_of(self.raw) }
    }

    /// The argument as a signed 64-bit integer, by the rules Redis parses
    /// integer arguments with (its `string2ll`), read here rather than
    /// through a call to the server.
    pub fn to_i64(&self) -> Option<i64> {
        parse_i64(self.as_bytes())
    }

    /// The argument as a double, by Redis's own parsing rules (which take
    /// `inf`, and refuse NaN and surrounding spaces).
    pub fn to_f64(&self) -> Option<f64> {
        let mut value: f64 = 0.0;
        // SAFETY: the string is live for this callback; `value` is a valid out-pointer.
        let status = unsafe { api!(RedisModule_StringToDouble)(self.raw.as_ptr(), &mut value) };
        (status == raw::REDISMODULE_OK).then_some(value)
    }

    pub(super) fn as_ptr(&self) -> *mut raw::RedisModuleString {
        self.raw.as_ptr()
    }
}

impl<'a> RedisStr<'a> {
    /// # Safety
    /// `raw` must be a live Redis string for at least `'a`.
    pub(super) unsafe fn from_raw(raw: *mut raw::RedisModuleString) -> Option<RedisStr<'a>> {
        NonNull::new(raw).map(|raw| RedisStr {
            raw,
            _call: PhantomData,
        })
    }

    pub(super) fn as_ptr(&self) -> *mut raw::RedisModuleString {
        self.raw.as_ptr()
    }

    /// A copy of the string's bytes.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        // SAFETY: the string is live for `'a`, which `&self` cannot outlive.
        unsafe { bytes_of(self.raw) }.to_vec()
    }
}

/// Redis's integer syntax: an optional `-`, then decimal digits with no
/// leading zero (`0` alone aside, and `-0` refused), within i64, in fewer
/// than 21 bytes, and nothing else: no `+`, no spaces.
fn parse_i64(text: &[u8]) -> Option<i64> {
    const LONGEST: usize = 20;
    if text.len() > LONGEST {
        return None;
    }
    let (negative, digits) = match text {
        [b'-', digits @ ..] => (true, digits),
        digits => (false, digits),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        i64::try_from(-i128::from(magnitude)).ok()
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// # Safety
/// `string` must stay live and unmodified for `'a`.
unsafe fn bytes_of<'a>(string: NonNull<raw::RedisModuleString>) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: the string is live; StringPtrLen returns its buffer and length,
    // which stay valid while the string lives.
    unsafe {
        let ptr = api!(RedisModule_StringPtrLen)(string.as_ptr(), &mut len);
        if ptr.is_null() || len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(ptr.cast(), len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_i64;

    #[test]
    fn integers_parse_by_redis_rules() {
        let accepted: &[(&[u8], i64)] = &[
            (b"0", 0),
            (b"7", 7),
            (b"-1", -1),
            (b"10", 10),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for &(text, value) in accepted {
            assert_eq!(parse_i64(text), Some(value), "{text:?}");
        }
        let refused: &[&[u8]] = &[
            b"",
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"1e3",
            b"0x10",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"-00000000000000000001",
            b"\xff1",
        ];
        for &text in refused {
            assert_eq!(parse_i64(text), None, "{text:?}");
        }
    }
}
