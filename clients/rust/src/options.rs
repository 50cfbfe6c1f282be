//! The option types of the commands that have options of their own.
//! `MULTIMAP.POS` takes the redis crate's [`redis::LposOptions`], the
//! `MULTIMAP.EXPIRE` family its [`redis::ExpireOption`], and `MULTIMAP.POP`
//! and `MULTIMAP.BPOP` its [`redis::Direction`]: those commands mirror
//! `LPOS`, `HEXPIRE` and `BLMPOP`, options included.

use redis::{RedisWrite, ToRedisArgs};

/// The options of `MULTIMAP.SCAN`: `MATCH pattern` keeps only the fields
/// matching a Redis glob pattern, and `COUNT count` hints how many fields one
/// call visits (the server's default is 10; below 1 it replies
/// `ERR syntax error`).
///
/// `MULTIMAP.SCAN` has no `TYPE` option, which is why this is not the redis
/// crate's `ScanOptions`.
///
/// ```
/// use redis_multimap_client::ScanOptions;
///
/// let options = ScanOptions::default().with_pattern("color*").with_count(100);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanOptions {
    pattern: Option<Vec<u8>>,
    count: Option<usize>,
}

impl ScanOptions {
    /// Keeps only the fields matching `pattern` (`*`, `?`, `[abc]`, `[^a]`,
    /// `[a-z]`, `\` to escape). Fields are bytes, and so may the pattern be.
    pub fn with_pattern(mut self, pattern: impl Into<Vec<u8>>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }

    /// Hints how many fields one call visits.
    pub fn with_count(mut self, count: usize) -> Self {
        self.count = Some(count);
        self
    }
}

impl ToRedisArgs for ScanOptions {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        if let Some(pattern) = &self.pattern {
            out.write_arg(b"MATCH");
            out.write_arg(pattern);
        }
        if let Some(count) = self.count {
            out.write_arg(b"COUNT");
            out.write_arg_fmt(count);
        }
    }

    fn num_of_args(&self) -> usize {
        2 * (usize::from(self.pattern.is_some()) + usize::from(self.count.is_some()))
    }
}
