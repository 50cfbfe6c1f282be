//! The MULTIMAP commands as SPEC.md lists them, for tests that go over all of
//! them: the name, the arity as Redis reports it, and one well-formed call;
//! and the writes that change nothing.

pub struct CommandSpec {
    /// As clients usually type it; Redis names it in lower case.
    pub name: &'static str,
    /// As `COMMAND INFO` reports it: the argument count including the name,
    /// negative when that is a minimum.
    pub arity: i64,
    /// Whether it may change the key (else it only reads).
    pub writes: bool,
    /// Whether it runs in constant time (flag `fast`, ACL category `@fast`).
    pub fast: bool,
    /// Whether it may use more memory (flag `denyoom`): refused over `maxmemory`.
    pub deny_oom: bool,
    /// Whether it may block the client (flag `blocking`, ACL category
    /// `@blocking`, on servers whose modules can declare it: Redis 7.0+).
    pub blocking: bool,
    /// The arguments after the key of one well-formed call with no optional
    /// argument: exactly `|arity|` words with the name and the key.
    pub example: &'static [&'static str],
}

/// In this order each example call on one key succeeds, whatever the earlier
/// ones left: PREPEND recreates the field that DEL took, so that SET finds
/// it, and BPOP comes last, on a field POP emptied, waiting only 10 ms. The
/// expiry commands set expiries far in the future (the absolute ones in
/// 2100), so that no field vanishes under the calls after them.
pub static COMMANDS: [CommandSpec; 32] = [
    spec("MULTIMAP.INSERT", -4, true, &["f", "v"]).deny_oom(),
    spec("MULTIMAP.GET", 3, false, &["f"]),
    spec("MULTIMAP.VALUES", 3, false, &["f"]),
    spec("MULTIMAP.LEN", 3, false, &["f"]).fast(),
    spec("MULTIMAP.RANGE", 5, false, &["f", "0", "-1"]),
    spec("MULTIMAP.CONTAINS", 4, false, &["f", "v"]),
    spec("MULTIMAP.EXISTS", 3, false, &["f"]).fast(),
    spec("MULTIMAP.REMOVE", -4, true, &["f", "v"]),
    spec("MULTIMAP.REPLACE", -4, true, &["f", "v"]).deny_oom(),
    spec("MULTIMAP.DEL", -3, true, &["f"]),
    spec("MULTIMAP.CARD", 2, false, &[]).fast(),
    spec("MULTIMAP.SIZE", 2, false, &[]).fast(),
    spec("MULTIMAP.FIELDS", 2, false, &[]),
    spec("MULTIMAP.GETALL", 2, false, &[]),
    spec("MULTIMAP.SCAN", -3, false, &["0"]),
    spec("MULTIMAP.PREPEND", -4, true, &["f", "v"])
        .fast()
        .deny_oom(),
    spec("MULTIMAP.ADD", -4, true, &["f", "v"]).deny_oom(),
    spec("MULTIMAP.INDEX", 4, false, &["f", "0"]),
    spec("MULTIMAP.SET", 5, true, &["f", "0", "v"]).deny_oom(),
    spec("MULTIMAP.POS", -4, false, &["f", "v"]),
    spec("MULTIMAP.TRIM", 5, true, &["f", "0", "-1"]),
    spec("MULTIMAP.EXPIRE", -6, true, &["100", "FIELDS", "1", "f"]).fast(),
    spec(
        "MULTIMAP.PEXPIRE",
        -6,
        true,
        &["100000", "FIELDS", "1", "f"],
    )
    .fast(),
    spec(
        "MULTIMAP.EXPIREAT",
        -6,
        true,
        &["4102444800", "FIELDS", "1", "f"],
    )
    .fast(),
    spec(
        "MULTIMAP.PEXPIREAT",
        -6,
        true,
        &["4102444800000", "FIELDS", "1", "f"],
    )
    .fast(),
    spec("MULTIMAP.TTL", -5, false, &["FIELDS", "1", "f"]).fast(),
    spec("MULTIMAP.PTTL", -5, false, &["FIELDS", "1", "f"]).fast(),
    spec("MULTIMAP.EXPIRETIME", -5, false, &["FIELDS", "1", "f"]).fast(),
    spec("MULTIMAP.PEXPIRETIME", -5, false, &["FIELDS", "1", "f"]).fast(),
    spec("MULTIMAP.PERSIST", -5, true, &["FIELDS", "1", "f"]).fast(),
    spec("MULTIMAP.POP", -4, true, &["f", "LEFT"]).fast(),
    spec("MULTIMAP.BPOP", -5, true, &["f", "LEFT", "0.01"]).blocking(),
];

const fn spec(
    name: &'static str,
    arity: i64,
    writes: bool,
    example: &'static [&'static str],
) -> CommandSpec {
    assert!(example.len() + 2 == arity.unsigned_abs() as usize);
    CommandSpec {
        name,
        arity,
        writes,
        fast: false,
        deny_oom: false,
        blocking: false,
        example,
    }
}

impl CommandSpec {
    const fn fast(self) -> CommandSpec {
        CommandSpec { fast: true, ..self }
    }

    const fn deny_oom(self) -> CommandSpec {
        CommandSpec {
            deny_oom: true,
            ..self
        }
    }

    const fn blocking(self) -> CommandSpec {
        CommandSpec {
            blocking: true,
            ..self
        }
    }

    /// The name as Redis reports it (COMMAND INFO, arity errors).
    pub fn lower_name(&self) -> String {
        self.name.to_lowercase()
    }

    /// Whether the command takes exactly `|arity|` arguments.
    pub fn fixed_arity(&self) -> bool {
        self.arity > 0
    }

    /// The least number of words in a call, the name included.
    pub fn min_words(&self) -> usize {
        self.arity.unsigned_abs() as usize
    }

    /// The well-formed example call on `key`: name, key, example arguments.
    pub fn call<'a>(&self, key: &'a str) -> Vec<&'a str> {
        let mut call = vec![self.name, key];
        call.extend(self.example);
        call
    }
}

/// The commands that only read.
pub fn read_commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().filter(|command| !command.writes)
}

/// The commands that may change the key.
pub fn write_commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().filter(|command| command.writes)
}

/// What the writes of [`NO_OP_WRITES`] find: key `k`, field `f` holding `a`, `b`.
pub const NO_OP_SETUP: &[&str] = &["MULTIMAP.INSERT", "k", "f", "a", "b"];

/// Writes that change nothing after [`NO_OP_SETUP`]: absent values, fields
/// and keys, a REPLACE with the values the field already holds, an ADD of
/// values it holds, a SET to the value already there, a TRIM that keeps
/// everything, POPs that find nothing or take nothing, expiries whose
/// condition fails (`f` has no expiry: XX and GT fail, even for a time in
/// the past) or whose fields are absent, and a PERSIST of a field without
/// expiry. None may replicate, fire an event or invalidate a WATCH.
pub const NO_OP_WRITES: [&[&str]; 21] = [
    &["MULTIMAP.REMOVE", "k", "f", "absent"],
    &["MULTIMAP.REMOVE", "k", "nofield", "a"],
    &["MULTIMAP.REMOVE", "nokey", "f", "a"],
    &["MULTIMAP.DEL", "k", "nofield"],
    &["MULTIMAP.DEL", "nokey", "f"],
    &["MULTIMAP.REPLACE", "k", "f", "a", "b"],
    &["MULTIMAP.ADD", "k", "f", "b", "a", "b"],
    &["MULTIMAP.SET", "k", "f", "-2", "a"],
    &["MULTIMAP.TRIM", "k", "f", "0", "-1"],
    &["MULTIMAP.TRIM", "k", "nofield", "1", "0"],
    &["MULTIMAP.TRIM", "nokey", "f", "0", "0"],
    &["MULTIMAP.POP", "k", "nofield", "LEFT"],
    &["MULTIMAP.POP", "nokey", "f", "RIGHT", "COUNT", "2"],
    &["MULTIMAP.POP", "k", "f", "LEFT", "COUNT", "0"],
    &["MULTIMAP.EXPIRE", "k", "100", "FIELDS", "1", "nofield"],
    &["MULTIMAP.PEXPIRE", "nokey", "100", "FIELDS", "2", "f", "f"],
    &["MULTIMAP.EXPIREAT", "k", "0", "XX", "FIELDS", "1", "f"],
    &[
        "MULTIMAP.PEXPIREAT",
        "k",
        "4102444800000",
        "GT",
        "FIELDS",
        "1",
        "f",
    ],
    &["MULTIMAP.EXPIRE", "k", "0", "FIELDS", "1", "nofield"],
    &["MULTIMAP.PERSIST", "k", "FIELDS", "2", "f", "nofield"],
    &["MULTIMAP.PERSIST", "nokey", "FIELDS", "1", "f"],
];
