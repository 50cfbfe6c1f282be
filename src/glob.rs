//! Redis glob-style pattern matching (the `MATCH` option of the SCAN family),
//! following the case-sensitive behaviour of `stringmatchlen` in Redis's
//! `util.c`, including its quirks in `[...]` classes.
//!
//! Patterns and subjects are arbitrary bytes: keys and fields are binary-safe
//! in Redis, so nothing here assumes UTF-8.
//!
//! Where this deliberately differs from Redis:
//! * Range bounds compare as unsigned bytes. Redis compares `char`s, which are
//!   signed on x86 and unsigned on ARM, so Redis itself disagrees with itself
//!   about ranges touching bytes >= 0x80; unsigned is the order Redis uses
//!   everywhere else it compares binary strings (`memcmp`).
//! * A pattern made only of stars matches the empty subject. Current Redis
//!   returns no match for any non-empty pattern against an empty subject, but
//!   SCAN special-cases a bare `*` so that empty names are still listed; the
//!   uniform rule keeps `*` and `**` consistent.
//! * There is no recursion-depth cut-off: Redis gives up after 1000 nested
//!   stars to bound its backtracking, which this matcher does not need.

#![forbid(unsafe_code)]

/// A compiled Redis glob pattern.
#[derive(Clone, Debug)]
pub struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Clone, Debug)]
enum Token {
    Star,
    /// Every other construct (literal, `?`, escape, class) consumes exactly
    /// one byte, so a set of acceptable bytes is all that has to be kept.
    Byte(ByteSet),
}

#[derive(Clone, Debug)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const EMPTY: ByteSet = ByteSet([0; 4]);
    const FULL: ByteSet = ByteSet([u64::MAX; 4]);

    fn single(byte: u8) -> ByteSet {
        let mut set = ByteSet::EMPTY;
        set.insert(byte);
        set
    }

    fn insert(&mut self, byte: u8) {
        self.0[usize::from(byte >> 6)] |= 1 << (byte & 63);
    }

    fn insert_range(&mut self, a: u8, b: u8) {
        for byte in a.min(b)..=a.max(b) {
            self.insert(byte);
        }
    }

    fn complement(self) -> ByteSet {
        ByteSet(self.0.map(|word| !word))
    }

    fn contains(&self, byte: u8) -> bool {
        self.0[usize::from(byte >> 6)] & (1 << (byte & 63)) != 0
    }
}

impl Pattern {
    /// Compiles a Redis glob pattern; every byte string is a valid pattern.
    pub fn new(pattern: &[u8]) -> Pattern {
        let mut tokens = Vec::new();
        let mut rest = pattern;
        while let Some((&first, tail)) = rest.split_first() {
            rest = tail;
            let token = match first {
                b'*' => {
                    // Adjacent stars accept the same subjects as one star, and
                    // collapsing them keeps the matcher's work proportional
                    // to the number of distinct stars.
                    if matches!(tokens.last(), Some(Token::Star)) {
                        continue;
                    }
                    Token::Star
                }
                b'?' => Token::Byte(ByteSet::FULL),
                b'\\' => match rest.split_first() {
                    Some((&escaped, tail)) => {
                        rest = tail;
                        Token::Byte(ByteSet::single(escaped))
                    }
                    // Redis treats a backslash with nothing to escape as itself.
                    None => Token::Byte(ByteSet::single(b'\\')),
                },
                b'[' => {
                    let (set, tail) = parse_class(rest);
                    rest = tail;
                    Token::Byte(set)
                }
                literal => Token::Byte(ByteSet::single(literal)),
            };
            tokens.push(token);
        }
        Pattern { tokens }
    }

    /// Reports whether the whole of `subject` matches the pattern.
    pub fn matches(&self, subject: &[u8]) -> bool {
        let mut t = 0;
        let mut s = 0;
        // Only the most recent star is ever worth revisiting: every other
        // token consumes exactly one byte, so if the tokens after that star
        // cannot match from some position, giving an earlier star more bytes
        // only moves where they start, which the latest star already covers.
        // Retrying just that star bounds the work to O(tokens * subject).
        let mut retry: Option<(usize, usize)> = None;
        loop {
            match self.tokens.get(t) {
                Some(Token::Star) => {
                    t += 1;
                    retry = Some((t, s));
                    continue;
                }
                Some(Token::Byte(set)) if subject.get(s).is_some_and(|&b| set.contains(b)) => {
                    t += 1;
                    s += 1;
                    continue;
                }
                None if s == subject.len() => return true,
                _ => {}
            }
            match retry {
                Some((after_star, star_end)) if star_end < subject.len() => {
                    t = after_star;
                    s = star_end + 1;
                    retry = Some((t, s));
                }
                _ => return false,
            }
        }
    }
}

/// Parses the body of a `[...]` class (the bytes after `[`) and returns the
/// bytes it accepts together with the pattern left after it.
///
/// The order of the checks is what reproduces Redis: an escape wins over `]`,
/// `]` closes the class before anything could use it as a range start, and a
/// range is taken whenever three bytes remain with `-` in the middle, even if
/// the third is the `]` that was meant to close the class. Running out of
/// pattern simply ends the class with what was listed so far.
fn parse_class(body: &[u8]) -> (ByteSet, &[u8]) {
    let (negated, mut rest) = match body.split_first() {
        Some((b'^', tail)) => (true, tail),
        _ => (false, body),
    };
    let mut set = ByteSet::EMPTY;
    loop {
        match rest {
            [b'\\', escaped, tail @ ..] => {
                set.insert(*escaped);
                rest = tail;
            }
            [b']', tail @ ..] => {
                rest = tail;
                break;
            }
            [] => break,
            [low, b'-', high, tail @ ..] => {
                set.insert_range(*low, *high);
                rest = tail;
            }
            [literal, tail @ ..] => {
                set.insert(*literal);
                rest = tail;
            }
        }
    }
    let set = if negated { set.complement() } else { set };
    (set, rest)
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn matches(pattern: &[u8], subject: &[u8]) -> bool {
        Pattern::new(pattern).matches(subject)
    }

    #[test]
    fn empty_pattern_matches_only_empty_subject() {
        assert!(matches(b"", b""));
        assert!(!matches(b"", b"a"));
        assert!(!matches(b"", b"\0"));
    }

    #[test]
    fn literal_bytes_match_themselves_exactly() {
        assert!(matches(b"hello", b"hello"));
        assert!(!matches(b"hello", b"hell"));
        assert!(!matches(b"hello", b"helloo"));
        assert!(!matches(b"hello", b"Hello"));
        assert!(!matches(b"a", b""));
    }

    #[test]
    fn nul_and_non_utf8_bytes_are_ordinary_bytes() {
        assert!(matches(b"a\0b", b"a\0b"));
        assert!(!matches(b"a\0b", b"a"));
        assert!(matches(b"\xff\xfe*", b"\xff\xfe\x80\0"));
        assert!(matches(b"?\0", b"\xc3\0"));
        assert!(matches(b"[\0-\x01]", b"\0"));
        assert!(matches(b"[^\0]", b"\xff"));
        assert!(!matches(b"[^\0]", b"\0"));
    }

    #[test]
    fn star_matches_empty_run() {
        assert!(matches(b"a*b", b"ab"));
        assert!(matches(b"*ab", b"ab"));
        assert!(matches(b"ab*", b"ab"));
    }

    #[test]
    fn star_matches_any_run() {
        assert!(matches(b"a*b", b"axyzb"));
        assert!(matches(b"*", b"anything at all"));
        assert!(matches(b"user:*:name", b"user:42:name"));
        assert!(!matches(b"user:*:name", b"user:42:age"));
    }

    #[test]
    fn star_only_patterns_match_empty_subject() {
        assert!(matches(b"*", b""));
        assert!(matches(b"***", b""));
        assert!(!matches(b"*?", b""));
    }

    #[test]
    fn consecutive_stars_behave_as_one() {
        assert!(matches(b"a**b", b"ab"));
        assert!(matches(b"a***b", b"a123b"));
        assert!(!matches(b"a**b", b"a123c"));
    }

    #[test]
    fn star_backtracks_to_later_occurrence() {
        assert!(matches(b"*ab", b"aab"));
        assert!(matches(b"a*b*c", b"abbbxbc"));
        assert!(!matches(b"a*b*c", b"abbbxb"));
    }

    #[test]
    fn question_mark_matches_exactly_one_byte() {
        assert!(matches(b"?", b"x"));
        assert!(matches(b"?", b"\0"));
        assert!(!matches(b"?", b""));
        assert!(!matches(b"?", b"xy"));
        assert!(matches(b"h?llo", b"hallo"));
    }

    #[test]
    fn backslash_escapes_special_bytes() {
        assert!(matches(b"\\*", b"*"));
        assert!(!matches(b"\\*", b"x"));
        assert!(matches(b"\\?", b"?"));
        assert!(!matches(b"\\?", b"x"));
        assert!(matches(b"\\[a]", b"[a]"));
        assert!(matches(b"\\\\", b"\\"));
        assert!(matches(b"\\a", b"a"));
    }

    #[test]
    fn trailing_lone_backslash_is_literal() {
        assert!(matches(b"a\\", b"a\\"));
        assert!(!matches(b"a\\", b"a"));
        assert!(matches(b"\\", b"\\"));
    }

    #[test]
    fn class_matches_one_listed_byte() {
        assert!(matches(b"h[ae]llo", b"hello"));
        assert!(matches(b"h[ae]llo", b"hallo"));
        assert!(!matches(b"h[ae]llo", b"hillo"));
        assert!(!matches(b"[ab]", b"ab"));
        assert!(!matches(b"[ab]", b""));
    }

    #[test]
    fn caret_after_bracket_negates_class() {
        assert!(matches(b"h[^e]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(!matches(b"[^a]", b""));
    }

    #[test]
    fn caret_elsewhere_in_class_is_literal() {
        assert!(matches(b"[a^]", b"^"));
        assert!(matches(b"[^^]", b"a"));
        assert!(!matches(b"[^^]", b"^"));
    }

    #[test]
    fn range_matches_inclusive_bounds() {
        assert!(matches(b"[a-c]", b"a"));
        assert!(matches(b"[a-c]", b"b"));
        assert!(matches(b"[a-c]", b"c"));
        assert!(!matches(b"[a-c]", b"d"));
        assert!(matches(b"[0-9a-f]", b"e"));
        assert!(!matches(b"[^0-9]", b"5"));
    }

    #[test]
    fn reversed_range_is_swapped() {
        assert!(matches(b"[z-a]", b"m"));
        assert!(!matches(b"[z-a]", b"A"));
    }

    #[test]
    fn range_compares_bytes_unsigned() {
        assert!(matches(b"[a-\xff]", b"\x80"));
        assert!(!matches(b"[a-\xff]", b"\0"));
    }

    #[test]
    fn escape_in_class_is_literal() {
        assert!(matches(b"[\\]]", b"]"));
        assert!(matches(b"[\\^a]", b"^"));
        assert!(matches(b"[\\-]", b"-"));
        // The escape makes the byte a member on its own, so no range forms.
        assert!(matches(b"[\\a-c]", b"-"));
        assert!(!matches(b"[\\a-c]", b"b"));
    }

    #[test]
    fn empty_class_matches_nothing() {
        assert!(!matches(b"[]", b"a"));
        assert!(!matches(b"[]", b""));
        assert!(!matches(b"[]", b"]"));
    }

    #[test]
    fn class_ends_at_first_unescaped_bracket() {
        assert!(matches(b"[x]a]", b"xa]"));
        assert!(!matches(b"[x]a]", b"x"));
        // A leading `]` closes an empty class rather than being a member.
        assert!(!matches(b"[]a]", b"a"));
        assert!(!matches(b"[]a]", b"]a]"));
        assert!(!matches(b"[]a]", b"a]"));
    }

    #[test]
    fn negated_empty_class_matches_any_byte() {
        assert!(matches(b"[^]", b"x"));
        assert!(matches(b"[^]", b"]"));
        assert!(!matches(b"[^]", b""));
        assert!(!matches(b"[^]", b"xy"));
    }

    #[test]
    fn dash_before_closing_bracket_makes_bracket_range_end() {
        // `[a-]` is the range `]`..=`a` (0x5D..=0x61), left unclosed.
        assert!(matches(b"[a-]", b"_"));
        assert!(matches(b"[a-]", b"]"));
        assert!(!matches(b"[a-]", b"-"));
        // The `]` was used up as the range end, so the class runs on.
        assert!(matches(b"[a-]b]", b"_"));
        assert!(!matches(b"[a-]b]", b"_b]"));
    }

    #[test]
    fn dash_with_too_few_bytes_left_is_literal() {
        assert!(matches(b"[a-", b"-"));
        assert!(matches(b"[a-", b"a"));
        assert!(!matches(b"[a-", b"b"));
    }

    #[test]
    fn unclosed_class_uses_bytes_listed_so_far() {
        assert!(matches(b"[ab", b"a"));
        assert!(matches(b"[ab", b"b"));
        assert!(!matches(b"[ab", b"ab"));
        assert!(matches(b"x[a-c", b"xb"));
        assert!(matches(b"[\\", b"\\"));
        assert!(matches(b"[\\]", b"]"));
    }

    #[test]
    fn lone_open_bracket_matches_nothing() {
        assert!(!matches(b"[", b"["));
        assert!(!matches(b"[", b""));
    }

    #[test]
    fn lone_negated_open_bracket_matches_any_byte() {
        assert!(matches(b"[^", b"^"));
        assert!(matches(b"[^", b"\0"));
        assert!(!matches(b"[^", b""));
    }

    #[test]
    fn pathological_stars_run_in_polynomial_time() {
        let subject = vec![b'a'; 10_000];
        assert!(!matches(b"a*a*a*a*a*a*a*a*b", &subject));
        assert!(matches(b"a*a*a*a*a*a*a*a*a", &subject));

        let mut pattern = b"*a".repeat(200);
        pattern.push(b'b');
        let subject = vec![b'a'; 50_000];
        assert!(!matches(&pattern, &subject));
    }

    /// An independent, deliberately naive reading of the rules, checked
    /// against the compiled matcher over every short pattern on an alphabet
    /// of the bytes that matter to the syntax.
    fn reference(pattern: &[u8], subject: &[u8]) -> bool {
        let Some((&first, after)) = pattern.split_first() else {
            return subject.is_empty();
        };
        if first == b'*' {
            return reference(after, subject)
                || (!subject.is_empty() && reference(pattern, &subject[1..]));
        }
        let Some((&byte, subject_rest)) = subject.split_first() else {
            return false;
        };
        let (ok, pattern_rest) = match (first, after) {
            (b'?', _) => (true, after),
            (b'\\', [escaped, tail @ ..]) => (*escaped == byte, tail),
            (b'[', body) => reference_class(body, byte),
            _ => (first == byte, after),
        };
        ok && reference(pattern_rest, subject_rest)
    }

    fn reference_class(body: &[u8], byte: u8) -> (bool, &[u8]) {
        let (negated, mut rest) = match body {
            [b'^', tail @ ..] => (true, tail),
            _ => (false, body),
        };
        let mut hit = false;
        loop {
            match rest {
                [b'\\', x, tail @ ..] => {
                    hit |= *x == byte;
                    rest = tail;
                }
                [b']', tail @ ..] => return (hit != negated, tail),
                [] => return (hit != negated, rest),
                [lo, b'-', hi, tail @ ..] => {
                    hit |= (*lo.min(hi)..=*lo.max(hi)).contains(&byte);
                    rest = tail;
                }
                [x, tail @ ..] => {
                    hit |= *x == byte;
                    rest = tail;
                }
            }
        }
    }

    fn all_strings(alphabet: &[u8], max_len: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut frontier = vec![Vec::new()];
        for _ in 0..max_len {
            frontier = frontier
                .iter()
                .flat_map(|prefix: &Vec<u8>| {
                    alphabet.iter().map(move |&b| {
                        let mut next = prefix.clone();
                        next.push(b);
                        next
                    })
                })
                .collect();
            all.extend(frontier.iter().cloned());
        }
        all
    }

    #[test]
    fn agrees_with_naive_reading_on_all_short_inputs() {
        let patterns = all_strings(b"a*?[]^-\\\xff", 5);
        let subjects = all_strings(b"a]^-\\\xff", 3);
        for pattern in &patterns {
            let compiled = Pattern::new(pattern);
            for subject in &subjects {
                assert_eq!(
                    compiled.matches(subject),
                    reference(pattern, subject),
                    "pattern {pattern:?} subject {subject:?}"
                );
            }
        }
    }
}
