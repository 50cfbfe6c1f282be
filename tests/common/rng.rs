//! The one source of randomness. A randomized test calls [`seed`] once: the
//! seed comes from `MULTIMAP_SEED` (a replay) or else from the clock, is
//! printed with the command that replays the test, and its [`Seed`] prints
//! that command again if the test fails. Its `Display` (`MULTIMAP_SEED=123`)
//! goes into assertion messages.

use std::fmt;
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use super::skip::{test_binary, test_name};

/// The environment variable that replays a randomized test.
pub const SEED_VARIABLE: &str = "MULTIMAP_SEED";

/// A knob of a long-running test, e.g. `MULTIMAP_OPS`: an unsigned number,
/// or None when unset. Panics on anything else, rather than run a default.
pub fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not an unsigned number")),
    )
}

/// The seed of the running test. Not Clone: one per test, which prints the
/// replay command once if the test panics while it is alive.
pub struct Seed {
    value: u64,
    test: String,
}

/// This test's seed: `MULTIMAP_SEED` if set, else drawn from the clock.
/// Prints it (shown with the output of a failing test, or with --nocapture).
pub fn seed() -> Seed {
    let value = env_number(SEED_VARIABLE).unwrap_or_else(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        Rng(now.as_nanos() as u64).next()
    });
    let seed = Seed {
        value,
        test: test_name(),
    };
    eprintln!("{}: {seed}; replay: {}", seed.test, seed.replay());
    seed
}

impl Seed {
    pub fn value(&self) -> u64 {
        self.value
    }

    /// A generator starting from this seed.
    pub fn rng(&self) -> Rng {
        Rng(self.value)
    }

    /// The command that replays this test with this seed.
    pub fn replay(&self) -> String {
        self.replay_with("")
    }

    /// The replay command with more settings, e.g. `MULTIMAP_OPS=120`.
    pub fn replay_with(&self, settings: &str) -> String {
        let settings = if settings.is_empty() {
            String::new()
        } else {
            format!("{settings} ")
        };
        format!(
            "{self} {settings}cargo test --test {} {}",
            test_binary(),
            self.test
        )
    }
}

/// `MULTIMAP_SEED=<value>`, for assertion messages.
impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SEED_VARIABLE}={}", self.value)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{} failed; replay: {}", self.test, self.replay());
        }
    }
}

/// Deterministic pseudo-random numbers (SplitMix64): the same seed gives the
/// same sequence, so a failing random test replays exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `0..len`, e.g. an index into a slice of that length.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in `range`, which must not be empty.
    pub fn in_range(&mut self, range: Range<usize>) -> usize {
        assert!(!range.is_empty(), "an empty range {range:?}");
        range.start + self.index(range.end - range.start)
    }

    /// True once in `one_in` times.
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    /// `len` bytes of any value.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }
}
