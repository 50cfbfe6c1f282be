//! Replies as values: a handler returns something that knows how to write
//! itself through a `ReplyOut`, and the trampoline writes it once the handler
//! has finished, so no error can follow a reply.
//!
//! A `ReplyOut` is one slot of the reply: consuming it writes that slot, and an
//! array or map hands out exactly one `ReplyOut` per element it announced. An
//! element slot left unwritten (a short iterator, a panic half way) is filled
//! with a null when it drops, so the client always receives a well-formed reply
//! of the announced shape.

use std::cell::Cell;
use std::ffi::{c_int, c_long, CStr};

use super::context::Context;

/// What a handler's successful result is: written into the reply slot it is given.
pub trait WriteReply {
    fn write(self, out: ReplyOut<'_>);
}

/// A failed command's whole reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorReply {
    /// Redis's own wrong-number-of-arguments text, naming the command.
    WrongArity,
    /// An error line, starting with its error code (`ERR`, `WRONGTYPE`...).
    Message(&'static CStr),
}

/// One slot of the reply being written.
pub struct ReplyOut<'r> {
    ctx: &'r Context,
    /// Set once anything was written: after that, only this reply may follow.
    started: &'r Cell<bool>,
    /// An element of an announced array or map, which must be filled.
    element: bool,
    written: bool,
}

impl<'r> ReplyOut<'r> {
    pub(super) fn top(ctx: &'r Context, started: &'r Cell<bool>) -> ReplyOut<'r> {
        ReplyOut {
            ctx,
            started,
            element: false,
            written: false,
        }
    }

    fn element(&self) -> ReplyOut<'r> {
        ReplyOut {
            ctx: self.ctx,
            started: self.started,
            element: true,
            written: false,
        }
    }

    fn claim(&mut self) -> *mut super::raw::RedisModuleCtx {
        self.written = true;
        self.started.set(true);
        self.ctx.as_ptr()
    }

    pub fn integer(mut self, value: i64) {
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_ReplyWithLongLong)(self.claim(), value) };
    }

    /// A status line such as `OK`.
    pub fn simple(mut self, status: &CStr) {
        // SAFETY: the status is NUL-terminated; Redis copies it.
        unsafe { api!(RedisModule_ReplyWithSimpleString)(self.claim(), status.as_ptr()) };
    }

    /// The null that stands for a missing string (RESP2 `$-1`).
    pub fn null(mut self) {
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_ReplyWithNull)(self.claim()) };
    }

    /// The null that stands for a missing array (RESP2 `*-1`), as a blocking
    /// pop replies when it times out.
    pub fn null_array(mut self) {
        // SAFETY: the context is live for this callback.
        unsafe { api!(RedisModule_ReplyWithNullArray)(self.claim()) };
    }

    pub fn bulk(mut self, bytes: &[u8]) {
        // SAFETY: the buffer is valid for `bytes.len()` bytes; Redis copies it.
        unsafe {
            api!(RedisModule_ReplyWithStringBuffer)(
                self.claim(),
                bytes.as_ptr().cast(),
                bytes.len(),
            )
        };
    }

    /// An array of one element per item, each written by `each` into its slot.
    #[inline]
    pub fn array<I: ExactSizeIterator>(
        mut self,
        items: I,
        mut each: impl FnMut(ReplyOut<'r>, I::Item),
    ) {
        let len = items.len();
        announce_array(self.claim(), len);
        // Writes the elements announced above if the loop does not.
        let mut unfilled = Unfilled {
            ctx: self.ctx,
            count: len,
        };
        for item in items.take(len) {
            unfilled.count -= 1;
            each(self.element(), item);
        }
    }

    /// A map of one pair per entry, `each` writing its key and value slots:
    /// a RESP3 map, or under RESP2 (and on servers without map replies) a flat
    /// array of keys and values.
    pub fn map<I: ExactSizeIterator>(
        self,
        entries: I,
        each: impl FnMut(ReplyOut<'r>, ReplyOut<'r>, I::Item),
    ) {
        // SAFETY: an optional API, absent before Redis 7.0.
        let reply_with_map = unsafe { super::raw::RedisModule_ReplyWithMap };
        self.two_per_entry(entries, each, reply_with_map);
    }

    /// A flat array of two elements per entry, `each` writing both.
    pub fn pairs<I: ExactSizeIterator>(
        self,
        entries: I,
        each: impl FnMut(ReplyOut<'r>, ReplyOut<'r>, I::Item),
    ) {
        self.two_per_entry(entries, each, None);
    }

    fn two_per_entry<I: ExactSizeIterator>(
        mut self,
        entries: I,
        mut each: impl FnMut(ReplyOut<'r>, ReplyOut<'r>, I::Item),
        reply_with_map: Option<
            unsafe extern "C" fn(*mut super::raw::RedisModuleCtx, c_long) -> c_int,
        >,
    ) {
        let pairs = entries.len();
        let ctx = self.claim();
        match reply_with_map {
            // SAFETY: the context is live for this callback.
            Some(reply_with_map) => unsafe {
                reply_with_map(ctx, reply_len(pairs));
            },
            None => announce_array(ctx, pairs.saturating_mul(2)),
        }
        // Writes the elements announced above if the loop does not.
        let mut unfilled = Unfilled {
            ctx: self.ctx,
            count: pairs.saturating_mul(2),
        };
        for entry in entries.take(pairs) {
            unfilled.count -= 2;
            each(self.element(), self.element(), entry);
        }
    }
}

impl Drop for ReplyOut<'_> {
    fn drop(&mut self) {
        // The top slot is the trampoline's to fill (with an error) if unwritten.
        if self.element && !self.written {
            reply_null(self.ctx);
        }
    }
}

/// Elements an array or map announced and still owes; written as nulls on
/// drop, which also covers a panic half way through the elements.
struct Unfilled<'r> {
    ctx: &'r Context,
    count: usize,
}

impl Drop for Unfilled<'_> {
    fn drop(&mut self) {
        for _ in 0..self.count {
            reply_null(self.ctx);
        }
    }
}

/// Starts an array of `len` elements, which the caller then writes.
fn announce_array(ctx: *mut super::raw::RedisModuleCtx, len: usize) {
    // SAFETY: `ctx` is the live context of this callback.
    unsafe {
        if len == 0 {
            api!(RedisModule_ReplyWithEmptyArray)(ctx);
        } else {
            api!(RedisModule_ReplyWithArray)(ctx, reply_len(len));
        }
    }
}

fn reply_null(ctx: &Context) {
    // SAFETY: the context is live for this callback.
    unsafe { api!(RedisModule_ReplyWithNull)(ctx.as_ptr()) };
}

pub(super) fn reply_error(ctx: &Context, error: ErrorReply) {
    match error {
        // SAFETY: the context is live for this callback.
        ErrorReply::WrongArity => unsafe {
            api!(RedisModule_WrongArity)(ctx.as_ptr());
        },
        // SAFETY: the message is NUL-terminated; Redis copies it.
        ErrorReply::Message(message) => unsafe {
            api!(RedisModule_ReplyWithError)(ctx.as_ptr(), message.as_ptr());
        },
    }
}

fn reply_len(len: usize) -> c_long {
    c_long::try_from(len).unwrap_or(c_long::MAX)
}
