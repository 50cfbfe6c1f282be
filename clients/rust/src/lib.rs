//! Typed `MULTIMAP.*` commands for the [redis] crate, in the shape it gives
//! the RedisJSON commands (`JsonCommands`): one method per command of the
//! redis-multimap module (the crate at this repository's root), named
//! `multimap_<command>`, on every kind of connection and in pipelines.
//!
//! - [`MultiMapCommands`]: every synchronous [`redis::ConnectionLike`]
//!   ([`redis::Connection`], the cluster's `ClusterConnection`...).
//! - [`AsyncMultiMapCommands`] (feature `aio`, on by default): every
//!   [`redis::aio::ConnectionLike`] that is `Send` (`MultiplexedConnection`,
//!   `ConnectionManager`, the async cluster's `ClusterConnection`...), each
//!   method returning a [`redis::RedisFuture`].
//! - [`MultiMapPipeline`]: [`redis::Pipeline`], atomic or not, on sync and
//!   async connections, and (feature `cluster`, on by default) the cluster's
//!   `ClusterPipeline`; each method adds its command and returns the
//!   pipeline.
//!
//! As in the redis crate, the caller chooses the reply's type (`RV`), and each
//! method's documentation names the types that fit. Keys, fields and values
//! are anything the redis crate can send ([`redis::ToRedisArgs`]): text or
//! bytes, which go and come back unchanged. Where a command takes several
//! values or fields, pass one, or a slice (`&["a", "b"]`) or a `Vec` of them.
//! The options are typed: [`redis::Direction`] for the side `MULTIMAP.POP`
//! and `MULTIMAP.BPOP` pop from, [`redis::LposOptions`] for `MULTIMAP.POS`,
//! [`redis::ExpireOption`] for the `MULTIMAP.EXPIRE` family, and
//! [`ScanOptions`] for `MULTIMAP.SCAN` (whose cursor loop
//! `multimap_scan_iter` runs for you).
//!
//! ```no_run
//! use std::collections::HashMap;
//!
//! use redis::{Direction, ExpireOption};
//! use redis_multimap_client::{MultiMapCommands, MultiMapPipeline};
//!
//! # fn main() -> redis::RedisResult<()> {
//! let client = redis::Client::open("redis://127.0.0.1/")?;
//! let mut con = client.get_connection()?;
//!
//! let len: usize = con.multimap_insert("user:1:tags", "colors", &["red", "blue"])?;
//! let colors: Vec<String> = con.multimap_get("user:1:tags", "colors")?;
//! let added: usize = con.multimap_add("user:1:tags", "colors", &["blue", "teal"])?;
//! let everything: HashMap<String, Vec<String>> = con.multimap_getall("user:1:tags")?;
//! assert_eq!((len, added, everything["colors"].len()), (2, 1, 3));
//!
//! // Field expiry, one code per field: 1 set, -2 no such field.
//! let codes: Vec<i64> =
//!     con.multimap_expire("user:1:tags", 300, ExpireOption::NONE, &["colors", "sizes"])?;
//! assert_eq!(codes, [1, -2]);
//!
//! // A queue per field: wait up to 5 s for a job; None when none came.
//! let job: Option<Vec<Vec<u8>>> =
//!     con.multimap_bpop("jobs", "pending", Direction::Left, 5.0, None)?;
//!
//! // Several commands in one round trip, in a transaction.
//! let (first, count): (Option<String>, usize) = redis::pipe()
//!     .atomic()
//!     .multimap_pop("user:1:tags", "colors", Direction::Left, None)
//!     .multimap_len("user:1:tags", "colors")
//!     .query(&mut con)?;
//! # Ok(()) }
//! ```
//!
//! The same with an async connection:
//!
//! ```no_run
//! use redis::AsyncConnectionConfig;
//! use redis_multimap_client::AsyncMultiMapCommands;
//!
//! # async fn run() -> redis::RedisResult<()> {
//! let client = redis::Client::open("redis://127.0.0.1/")?;
//! // An async connection gives up on a reply after 500 ms by default, which a
//! // MULTIMAP.BPOP that may wait longer must not meet.
//! let config = AsyncConnectionConfig::new().set_response_timeout(None);
//! let mut con = client.get_multiplexed_async_connection_with_config(&config).await?;
//! let len: usize = con.multimap_insert("user:1:tags", "colors", &["red", "blue"]).await?;
//! let job: Option<Vec<String>> =
//!     con.multimap_bpop("jobs", "pending", redis::Direction::Left, 5.0, None).await?;
//! # Ok(()) }
//! ```
//!
//! [`COMMANDS`] lists the command names the methods send; the tests compare
//! it with the command table the module reports, so a command the module
//! gains without a method here fails them.
//!
//! [redis]: https://docs.rs/redis
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod commands;
mod options;

#[cfg(feature = "aio")]
pub use commands::AsyncMultiMapCommands;
pub use commands::{MultiMapCommands, MultiMapPipeline, COMMANDS};
pub use options::ScanOptions;
