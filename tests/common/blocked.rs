//! Clients blocked in a command, each on its own thread with its own
//! connection: [`Waiter::block`] returns once the server shows the client as
//! blocked (never after a guessed sleep), and every wait for its reply is
//! bounded, so a command that never returns fails the test instead of
//! hanging the suite.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use redis::{Connection, ConnectionLike, RedisResult, ToRedisArgs, Value};

use super::client::{command, info_number, integer, text, wait_until};
use super::server::Server;

/// How long a client may take to show as blocked, or a reply to arrive.
pub const BLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket read timeout of a waiter's connection: past it the thread ends
/// even if the server never replies, so no test can leave it behind.
const WAITER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A client sending one command, possibly blocking, from its own thread.
pub struct Waiter {
    /// Its `CLIENT ID`, for CLIENT UNBLOCK / CLIENT LIST.
    pub id: i64,
    reply: Receiver<RedisResult<Value>>,
}

impl Waiter {
    /// Sends `line` on a new RESP2 connection and returns once the server
    /// lists the client as blocked.
    pub fn block(server: &Server, line: impl ToRedisArgs) -> Waiter {
        let waiter = Waiter::send(server.connect(), line);
        waiter.wait_until_blocked(server);
        waiter
    }

    /// As [`Waiter::block`], on a RESP3 connection.
    pub fn block_resp3(server: &Server, line: impl ToRedisArgs) -> Waiter {
        let waiter = Waiter::send(server.connect_resp3(), line);
        waiter.wait_until_blocked(server);
        waiter
    }

    /// Sends `line` from a thread on `con`, without waiting for anything.
    pub fn send(mut con: Connection, line: impl ToRedisArgs) -> Waiter {
        con.set_read_timeout(Some(WAITER_READ_TIMEOUT))
            .expect("a read timeout");
        let id = integer(&mut con, &["CLIENT", "ID"]);
        let command = command(line);
        let (sender, reply) = mpsc::channel();
        thread::spawn(move || {
            let _ = sender.send(command.query::<Value>(&mut con));
        });
        Waiter { id, reply }
    }

    /// Whether the server lists this client as blocked (flag `b`).
    pub fn is_blocked(&self, con: &mut impl ConnectionLike) -> bool {
        is_client_blocked(con, self.id)
    }

    fn wait_until_blocked(&self, server: &Server) {
        let mut con = server.connect();
        wait_until("the client to block", BLOCK_TIMEOUT, || {
            self.is_blocked(&mut con)
        });
    }

    /// The reply, which must come within `BLOCK_TIMEOUT`.
    pub fn reply(self) -> RedisResult<Value> {
        match self.reply.recv_timeout(BLOCK_TIMEOUT) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => {
                panic!("client {} got no reply within {BLOCK_TIMEOUT:?}", self.id)
            }
            Err(RecvTimeoutError::Disconnected) => panic!("client {}'s thread died", self.id),
        }
    }

    /// The reply, which must be no error.
    pub fn value(self) -> Value {
        let id = self.id;
        self.reply()
            .unwrap_or_else(|error| panic!("client {id} got an error: {error}"))
    }

    /// The reply as values (bulk strings), which must be an array.
    pub fn values(self) -> Vec<Vec<u8>> {
        let value = self.value();
        match &value {
            Value::Array(_) => redis::from_redis_value_ref(&value).expect("bulk strings"),
            other => panic!("expected an array of values, got {other:?}"),
        }
    }

    /// Checks that the client is still blocked and got no reply.
    pub fn assert_waiting(&self, con: &mut impl ConnectionLike) {
        assert!(self.is_blocked(con), "client {} is not blocked", self.id);
        if let Ok(reply) = self.reply.try_recv() {
            panic!(
                "client {} replied {reply:?} while expected to wait",
                self.id
            );
        }
    }
}

/// Whether `CLIENT LIST ID id` shows the client blocked (flag `b`).
pub fn is_client_blocked(con: &mut impl ConnectionLike, id: i64) -> bool {
    let listing = text(con, ("CLIENT", "LIST", "ID", id));
    listing
        .split_whitespace()
        .find_map(|word| word.strip_prefix("flags="))
        .is_some_and(|flags| flags.contains('b'))
}

/// `blocked_clients` of INFO clients: clients blocked in any command.
pub fn blocked_clients(con: &mut impl ConnectionLike) -> i64 {
    info_number(con, "clients", "blocked_clients")
}

/// `multimap_blocked_clients` of INFO multimap: clients blocked in BPOP.
pub fn multimap_blocked_clients(con: &mut impl ConnectionLike) -> i64 {
    info_number(con, "multimap", "multimap_blocked_clients")
}

/// Waits until exactly `count` clients are blocked in any command.
pub fn wait_for_blocked_clients(con: &mut impl ConnectionLike, count: i64) {
    wait_until(&format!("{count} blocked clients"), BLOCK_TIMEOUT, || {
        blocked_clients(con) == count
    });
}
