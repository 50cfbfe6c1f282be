//! redis-server processes with the module under test, and their presets.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use redis::Connection;
use tempfile::TempDir;

use super::client::{info_field, select, wait_until};

/// How long a server may take to start answering PING.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a replica may take to catch up with its master.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Keys `start_quiet` makes so that the keyspace and expires tables are
/// presized and never resize while a test's keys come and go.
pub const FILLER_KEYS: i64 = 600;

/// The module under test: `MULTIMAP_MODULE` if set, else the cdylib of the
/// same profile as this test binary (target/<profile>/). `cargo test` alone
/// does not build the cdylib, so `make test` runs `cargo build` first; a module
/// older than the crate's sources would test old code, so that fails loudly.
pub fn module_path() -> PathBuf {
    if let Some(path) = std::env::var_os("MULTIMAP_MODULE") {
        return PathBuf::from(path);
    }
    fresh_build(
        "libredis_multimap.so",
        "run `cargo build` first (make test does)",
    )
}

/// The module built with the `fault-injection` feature, beside the plain one.
pub fn fault_injection_module_path() -> PathBuf {
    fresh_build(
        "libredis_multimap_faults.so",
        "run `cargo build --features fault-injection` and copy \
         target/<profile>/libredis_multimap.so to that name first (make test does)",
    )
}

/// The cdylib `name` in target/<profile>/, which must be newer than the
/// crate's sources; `how_to_build` says how to make it otherwise.
fn fresh_build(name: &str, how_to_build: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let module = profile_dir.join(name);
    let built = modified(&module)
        .unwrap_or_else(|| panic!("no module at {}: {how_to_build}", module.display()));
    let crate_dir = module_crate_dir();
    let sources = ["src", "c", "build.rs", "Cargo.toml"].map(|name| crate_dir.join(name));
    if let Some(newest) = sources
        .iter()
        .filter_map(|path| newest_modification(path))
        .max()
    {
        assert!(
            built >= newest,
            "{} is older than the sources: {how_to_build}",
            module.display()
        );
    }
    module
}

/// The module's crate: the one this file belongs to, which is also the test
/// binary's own crate unless the binary borrows this layer by path from a
/// crate below it (the Rust client's tests, in clients/rust/).
fn module_crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("tests/common/server.rs").is_file())
        .expect("tests/common/server.rs in a directory above the test's crate")
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

fn newest_modification(path: &Path) -> Option<SystemTime> {
    let own = modified(path);
    let children = std::fs::read_dir(path).into_iter().flatten().flatten();
    children
        .filter_map(|entry| newest_modification(&entry.path()))
        .chain(own)
        .max()
}

/// The redis-server binary: `REDIS_SERVER` if set (e.g. a Redis 6.2 build),
/// else the one on PATH.
pub fn server_binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// What `server_binary() --version` says: which server, which version, which allocator.
pub struct ServerIdentity {
    /// `Redis` or `Valkey`.
    pub product: &'static str,
    /// e.g. `7.0.15`.
    pub version_text: String,
    /// (major, minor).
    pub version: (u32, u32),
    /// e.g. `jemalloc-5.3.0` or `libc`.
    pub allocator: String,
}

/// The identity of `server_binary()`, read once from `--version`.
pub fn server_identity() -> &'static ServerIdentity {
    static IDENTITY: OnceLock<ServerIdentity> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let output = Command::new(server_binary())
            .arg("--version")
            .output()
            .unwrap_or_else(|error| panic!("{} --version: {error}", server_binary().display()));
        let text = String::from_utf8_lossy(&output.stdout);
        let word = |prefix: &str| {
            text.split_whitespace()
                .find_map(|word| word.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {text:?}"))
                .to_owned()
        };
        let version_text = word("v=");
        let mut parts = version_text
            .split('.')
            .map(|part| part.parse().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        ServerIdentity {
            product: if text.starts_with("Valkey") {
                "Valkey"
            } else {
                "Redis"
            },
            version_text,
            version,
            allocator: word("malloc="),
        }
    })
}

/// The version of `server_binary()`, e.g. `7.0.15`.
pub fn server_version_text() -> &'static str {
    &server_identity().version_text
}

/// The (major, minor) version of `server_binary()`.
pub fn server_version() -> (u32, u32) {
    server_identity().version
}

pub fn is_valkey() -> bool {
    server_identity().product == "Valkey"
}

/// Whether the server is at least the given Redis version, or the given Valkey
/// version (Valkey forked from Redis 7.2 and numbers its releases from 8.0).
pub fn is_at_least(redis: (u32, u32), valkey: (u32, u32)) -> bool {
    server_version() >= if is_valkey() { valkey } else { redis }
}

/// Redis 7.0 (or any Valkey) added command docs, key specs, ACL key
/// permissions, EVAL_RO and RESP3 map replies for modules; tests of those skip
/// older servers.
pub fn is_redis_7() -> bool {
    is_at_least((7, 0), (7, 0))
}

/// Valkey 9 migrates slots atomically (`CLUSTER MIGRATESLOTS`); no Redis does.
pub fn has_atomic_slot_migration() -> bool {
    is_valkey() && server_version() >= (9, 0)
}

/// Whether the server allocates with jemalloc (active defragmentation needs it).
pub fn is_jemalloc() -> bool {
    server_identity().allocator.starts_with("jemalloc")
}

fn yes_no(yes: bool) -> &'static str {
    if yes {
        "yes"
    } else {
        "no"
    }
}

pub struct Server {
    process: Child,
    pub port: u16,
    pub dir: TempDir,
    log: PathBuf,
}

pub struct ServerBuilder {
    cluster_node: bool,
    config_file: Option<PathBuf>,
    args: Vec<String>,
    /// The module build to load, if any: a function, so that only the build
    /// a server loads is looked up and checked for freshness.
    module: Option<fn() -> PathBuf>,
    dir: Option<TempDir>,
}

impl ServerBuilder {
    /// An extra `--name value` configuration pair. A later pair overrides an
    /// earlier one of the same name.
    pub fn config(mut self, name: &str, value: &str) -> Self {
        self.args.push(format!("--{name}"));
        self.args.push(value.to_owned());
        self
    }

    /// A `--name value value...` configuration with several values.
    pub fn config_values(mut self, name: &str, values: &[&str]) -> Self {
        self.args.push(format!("--{name}"));
        self.args
            .extend(values.iter().map(|value| (*value).to_owned()));
        self
    }

    /// Logs every write to the AOF and fsyncs it before replying
    /// (`appendfsync always`), so that killing the server loses nothing
    /// acknowledged; rewrites start with an RDB preamble or not.
    pub fn aof(self, rdb_preamble: bool) -> Self {
        self.config("appendonly", "yes")
            .config("appendfsync", "always")
            .config("aof-use-rdb-preamble", yes_no(rdb_preamble))
    }

    /// A master that starts a full sync as soon as a replica asks.
    pub fn master(self) -> Self {
        self.config("repl-diskless-sync-delay", "0")
    }

    /// A replica of `master`: it syncs as soon as it starts (see
    /// [`wait_in_sync`]).
    pub fn replica_of(self, master: &Server) -> Self {
        self.config_values("replicaof", &["127.0.0.1", &master.port.to_string()])
    }

    /// A Redis Cluster node (not yet part of any cluster), on a port whose
    /// cluster bus port (+10000) is free too.
    pub fn cluster_node(mut self) -> Self {
        self.cluster_node = true;
        self.config("cluster-enabled", "yes")
            .config("cluster-node-timeout", "5000")
    }

    /// Accepts `MODULE LOAD`/`UNLOAD` from clients: Redis 7.0 refuses them
    /// unless configured to; 6.2 always accepts them.
    pub fn module_command_allowed(self) -> Self {
        if is_redis_7() {
            self.config("enable-module-command", "yes")
        } else {
            self
        }
    }

    /// Starts from a redis.conf (command-line settings still apply on top).
    pub fn config_file(mut self, path: &Path) -> Self {
        self.config_file = Some(path.to_owned());
        self
    }

    pub fn without_module(mut self) -> Self {
        self.module = None;
        self
    }

    /// Loads the module built with the `fault-injection` feature (see
    /// [`fault_injection_module_path`]) instead of the plain one.
    pub fn with_fault_injection(mut self) -> Self {
        self.module = Some(fault_injection_module_path);
        self
    }

    /// Starts in an existing directory, e.g. one holding a dump.rdb or an AOF
    /// to load.
    pub fn in_dir(mut self, dir: TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Starts in a new directory holding a copy of `rdb` as its dump.rdb,
    /// which the server loads.
    pub fn loading_rdb(self, rdb: &Path) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new().expect("temp dir");
        let dump = dir.path().join("dump.rdb");
        std::fs::copy(rdb, &dump)
            .unwrap_or_else(|error| panic!("copying {}: {error}", rdb.display()));
        // A fixture may be read-only; its copy is the server's to replace.
        std::fs::set_permissions(&dump, std::fs::Permissions::from_mode(0o644))
            .expect("chmod dump.rdb");
        self.in_dir(dir)
    }

    pub fn start(self) -> Server {
        let mut dir = self
            .dir
            .unwrap_or_else(|| TempDir::new().expect("temp dir"));
        // A port can be taken between probing and binding; retry a few times.
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = if self.cluster_node {
                free_cluster_port()
            } else {
                free_port()
            };
            let log = dir.path().join(format!("redis-{port}.log"));
            let mut command = Command::new(server_binary());
            if let Some(config_file) = &self.config_file {
                command.arg(config_file);
            }
            command
                .arg("--port")
                .arg(port.to_string())
                .args(["--bind", "127.0.0.1", "--daemonize", "no", "--save", ""])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if is_redis_7() {
                // DEBUG (RELOAD, DIGEST...) is off by default since Redis 7.0.
                command.args(["--enable-debug-command", "yes"]);
            }
            if let Some(module) = self.module {
                command.arg("--loadmodule").arg(module());
            }
            command.args(&self.args);
            let process = command.spawn().expect("redis-server could not be started");
            let mut server = Server {
                process,
                port,
                dir,
                log,
            };
            if server.wait_until_ready() {
                return server;
            }
            last_log = server.log_text();
            let _ = server.process.kill();
            let _ = server.process.wait();
            dir = std::mem::replace(&mut server.dir, TempDir::new().expect("temp dir"));
        }
        panic!("redis-server did not start; its log:\n{last_log}");
    }

    /// Starts a server whose `used_memory` moves only with its keys, and
    /// returns it with a connection that only ever sends small commands: no
    /// per-command latency histogram is allocated on a command's first call,
    /// the reply buffer resizing cron is off, and the keyspace and expires
    /// tables are presized by FILLER_KEYS keys with a long TTL, so adding a
    /// few hundred keys never grows them. (Redis 6.2 has neither histograms
    /// nor reply buffer resizing, nor the settings to turn them off.) The
    /// setup goes through a connection of its own, closed before returning:
    /// a client keeps a query buffer as big as the pipelines it sent (Redis
    /// 8.2 gives it back at some later point, moving `used_memory` under a
    /// measurement), and a server allocates for good once a client has gone.
    pub fn start_quiet(self) -> (Server, Connection) {
        let server = self.start();
        {
            let mut setup = server.connect();
            let _ = redis::cmd("CONFIG")
                .arg(&["SET", "latency-tracking", "no"])
                .exec(&mut setup);
            let _ = redis::cmd("DEBUG")
                .arg(&["REPLYBUFFER", "RESIZING", "0"])
                .exec(&mut setup);
            redis::cmd("DEBUG")
                .arg("POPULATE")
                .arg(FILLER_KEYS)
                .arg("filler")
                .exec(&mut setup)
                .expect("DEBUG POPULATE");
            let mut pipe = redis::pipe();
            for i in 0..FILLER_KEYS {
                pipe.cmd("EXPIRE")
                    .arg(format!("filler:{i}"))
                    .arg(3600)
                    .ignore();
            }
            pipe.exec(&mut setup).expect("EXPIRE on the filler keys");
        }
        let mut quiet = server.connect();
        wait_until("the setup connection to be freed", START_TIMEOUT, || {
            info_field(&mut quiet, "clients", "connected_clients").as_deref() == Some("1")
        });
        (server, quiet)
    }
}

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            cluster_node: false,
            config_file: None,
            args: Vec::new(),
            module: Some(module_path),
            dir: None,
        }
    }

    /// A server with the module loaded and default settings.
    pub fn start() -> Server {
        Server::builder().start()
    }

    /// `127.0.0.1:port`, as redis-cli takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.address())
    }

    pub fn connect(&self) -> Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection()
            .expect("connection")
    }

    /// A connection whose current database is `db`.
    pub fn connect_to_db(&self, db: i64) -> Connection {
        let mut con = self.connect();
        select(&mut con, db);
        con
    }

    /// A connection speaking RESP3 (`HELLO 3`).
    pub fn connect_resp3(&self) -> Connection {
        let url = format!("{}?protocol=resp3", self.url());
        redis::Client::open(url)
            .expect("client")
            .get_connection()
            .expect("connection")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of the log, e.g. to tell why the server died.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log_text();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// The server's process id, which is its main thread's id too (the
    /// launchers exec the server).
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Whether the process is still running (it did not crash).
    pub fn is_alive(&mut self) -> bool {
        matches!(self.process.try_wait(), Ok(None))
    }

    fn wait_until_ready(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if !self.is_alive() {
                return false;
            }
            if let Ok(client) = redis::Client::open(self.url()) {
                if let Ok(mut connection) = client.get_connection() {
                    if redis::cmd("PING").query::<String>(&mut connection).is_ok() {
                        return true;
                    }
                }
            }
            sleep(Duration::from_millis(20));
        }
        false
    }

    /// Stops the server (SIGKILL: nothing is saved on the way out) and returns
    /// its directory, e.g. to restart from its files.
    pub fn stop(mut self) -> TempDir {
        self.kill();
        std::mem::replace(&mut self.dir, TempDir::new().expect("temp dir"))
    }

    fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free port at most 55535 whose cluster bus port (port + 10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

// ---------------------------------------------------------------- replication

/// `master_repl_offset`: how far the master's replication stream has got.
pub fn master_offset(master: &mut Connection) -> i64 {
    info_field(master, "replication", "master_repl_offset")
        .and_then(|offset| offset.parse().ok())
        .expect("master_repl_offset")
}

/// Waits until the replica is linked and has applied everything the master
/// sent.
pub fn wait_in_sync(master: &mut Connection, replica: &mut Connection) {
    wait_until("the replica to catch up", SYNC_TIMEOUT, || {
        let linked =
            info_field(replica, "replication", "master_link_status").as_deref() == Some("up");
        let applied: Option<i64> = info_field(replica, "replication", "slave_repl_offset")
            .and_then(|offset| offset.parse().ok());
        linked && applied == Some(master_offset(master))
    });
}
