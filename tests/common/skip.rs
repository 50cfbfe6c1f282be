//! Tests that a server cannot run are reported as skipped, by name, never as
//! a silent pass:
//!
//! ```ignore
//! if common::skip_unless(common::is_redis_7(), "COMMAND DOCS came with Redis 7.0") {
//!     return;
//! }
//! ```

use std::io::Write;

use redis::Connection;

use super::client::run;
use super::server::{
    is_at_least, is_jemalloc, is_valkey, server_binary, server_identity, server_version_text,
};

/// The test binary's name: `differential` for target/debug/deps/differential-<hash>.
pub fn test_binary() -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let stem = exe
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.bytes().all(|byte| byte.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem,
    }
}

/// The running test's name as `cargo test --test <binary> <name>` takes it:
/// libtest names each test's thread after the test.
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("<test>")
        .to_owned()
}

/// Whether the running test must stop here because `condition` does not hold
/// on this server. If so, prints `SKIPPED <binary>::<test>: <reason> (server
/// is <Redis|Valkey> <version>, binary)` straight to stderr: libtest captures only the
/// print!/eprint! macros of passing tests, and a skip must show.
/// `make test` counts these lines per server.
pub fn skip_unless(condition: bool, reason: &str) -> bool {
    if condition {
        return false;
    }
    let line = format!(
        "SKIPPED {}::{}: {reason} (server is {} {}, {})",
        test_binary(),
        test_name(),
        server_identity().product,
        server_version_text(),
        server_binary().display()
    );
    let _ = writeln!(std::io::stderr(), "{line}");
    true
}

/// Whether the running test must stop here because the module hears of no
/// RENAME or MOVE: on Valkey 8 a module subscribed to keyspace events would
/// leave the caller of MOVE or `COPY ... DB` on the other database
/// (valkey-io/valkey#4024), so it subscribes to none, and a key that RENAME or
/// MOVE brings joins the expiry schedule only at its next MULTIMAP write.
pub fn skip_unless_renames_reach_the_module() -> bool {
    skip_unless(
        !is_valkey() || is_at_least((0, 0), (9, 0)),
        "the module subscribes to no keyspace events on Valkey 8, whose notifications \
         leave MOVE's caller on the other database",
    )
}

/// Whether the running test must stop here because the server cannot
/// defragment actively: only builds with Redis's patched jemalloc can, and
/// the others (libc builds, Debian's Redis 7.0) refuse `activedefrag yes`.
/// Leaves active defragmentation off.
pub fn skip_unless_active_defrag(con: &mut Connection) -> bool {
    if skip_unless(
        is_jemalloc(),
        "active defragmentation needs a jemalloc build",
    ) {
        return true;
    }
    let refusal = redis::cmd("CONFIG")
        .arg(&["SET", "activedefrag", "yes"])
        .exec(con)
        .err();
    if let Some(refusal) = refusal {
        return skip_unless(
            false,
            &format!("the server refuses active defragmentation: {refusal}"),
        );
    }
    run(con, &["CONFIG", "SET", "activedefrag", "no"]);
    false
}
