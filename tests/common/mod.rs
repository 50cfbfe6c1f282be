//! The one test-support layer of the integration tests (and of
//! `benches/compare.rs`, which includes it by path). Every helper lives here
//! once; a test file keeps only what is its own.
//!
//! - [`server`]: real redis-server processes with the freshly built module,
//!   each on a free 127.0.0.1 port in its own temp dir, killed on Drop (even
//!   when the test panics), and their presets: plain, AOF, master and replica
//!   (with [`wait_in_sync`]), cluster node, quiet for memory measurements, and
//!   another server binary through `REDIS_SERVER`.
//! - [`aof`]: the AOF's files and the commands logged in them.
//! - [`blocked`]: [`Waiter`], a client blocked in a command on its own
//!   thread, seen blocked through `CLIENT LIST` and its reply awaited with a
//!   bound; the blocked-client counts of INFO.
//! - [`cluster`]: a Redis Cluster of such servers, made with `redis-cli`.
//! - [`client`]: typed helpers for the commands the tests send ([`integer`],
//!   [`insert`], [`getall`], [`scan_all`], [`dump`], [`digest`]...), reply
//!   parsing, `INFO` and polling.
//! - [`commands`]: the MULTIMAP command table the tests iterate over (names,
//!   arities, one well-formed call of each).
//! - [`errors`]: the exact error texts clients receive, and the malformed
//!   arguments that provoke them.
//! - [`expiry`]: field expiries as clients see them ([`timed_content`]), the
//!   server's clock, the INFO expiry counters, waiting for active expiry, and
//!   [`ExpiringKeys`], the keys the durability tests carry from place to place.
//! - [`payload`]: DUMP payloads framed with Redis's CRC-64, to forge them.
//! - [`rng`]: the seeded [`Rng`] and [`seed`], which every randomized test
//!   calls once: the seed comes from `MULTIMAP_SEED` (else from the clock), is
//!   printed, and a failing test prints how to replay it.
//! - [`skip`]: [`skip_unless`], so that a test an older server cannot run is
//!   reported as `SKIPPED <test>: <reason>` rather than passing silently.
//! - [`show`]: bytes, command lines and replies for failure messages.
//! - [`totals`]: what `INFO multimap` reports against what a walk of the
//!   keyspace finds ([`assert_exact`]).
//! - [`wire`]: [`Wire`], a connection that returns replies as the exact bytes
//!   sent, to tell a null bulk string from a null array.
//!
//! Knobs, all read here: `REDIS_SERVER` (the server binary), `MULTIMAP_MODULE`
//! (the module build), `MULTIMAP_SEED` (replays a randomized test).
// Each test binary uses a different part of this layer.
#![allow(dead_code, unused_imports)]

pub mod aof;
pub mod blocked;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod errors;
pub mod expiry;
pub mod payload;
pub mod rng;
pub mod server;
pub mod show;
pub mod skip;
pub mod totals;
pub mod wire;

pub use aof::*;
pub use blocked::*;
pub use client::*;
pub use cluster::*;
pub use commands::*;
pub use errors::*;
pub use expiry::*;
pub use payload::*;
pub use rng::*;
pub use server::*;
pub use show::*;
pub use skip::*;
pub use totals::*;
pub use wire::*;
