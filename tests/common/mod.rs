//! Starts real redis-server processes with the freshly built module, each on a
//! free 127.0.0.1 port in its own temp dir, killed on Drop (even when the test
//! panics).
#![allow(dead_code)] // each test binary uses a different part of this helper

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

/// How long a server may take to start answering PING.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The module under test: `MULTIMAP_MODULE` if set, else the cdylib of the
/// same profile as this test binary (target/<profile>/). `cargo test` alone
/// does not build the cdylib, so `make test` runs `cargo build` first; a module
/// older than the crate's sources would test old code, so that fails loudly.
pub fn module_path() -> PathBuf {
    if let Some(path) = std::env::var_os("MULTIMAP_MODULE") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let module = profile_dir.join("libredis_multimap.so");
    let built = modified(&module).unwrap_or_else(|| {
        panic!(
            "no module at {}: run `cargo build` first (make test does)",
            module.display()
        )
    });
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = ["src", "c", "build.rs", "Cargo.toml"].map(|name| crate_dir.join(name));
    if let Some(newest) = sources
        .iter()
        .filter_map(|path| newest_modification(path))
        .max()
    {
        assert!(
            built >= newest,
            "{} is older than the sources: run `cargo build` first (make test does)",
            module.display()
        );
    }
    module
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

/// The (major, minor) version of `server_binary()`, read once from `--version`.
pub fn server_version() -> (u32, u32) {
    static VERSION: OnceLock<(u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let output = Command::new(server_binary())
            .arg("--version")
            .output()
            .expect("redis-server --version");
        let text = String::from_utf8_lossy(&output.stdout);
        let version = text
            .split_whitespace()
            .find_map(|word| word.strip_prefix("v="))
            .unwrap_or_else(|| panic!("no version in {text:?}"));
        let mut parts = version.split('.').map(|part| part.parse().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    })
}

/// Redis 7.0 added command docs, key specs, ACL key permissions and RESP3 map
/// replies for modules; tests of those skip older servers.
pub fn is_redis_7() -> bool {
    server_version().0 >= 7
}

/// The redis-server binary: `REDIS_SERVER` if set (e.g. a Redis 6.2 build),
/// else the one on PATH.
pub fn server_binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
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
    load_module: bool,
    dir: Option<TempDir>,
}

impl ServerBuilder {
    /// An extra `--name value` configuration pair.
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

    /// A Redis Cluster node (not yet part of any cluster), on a port whose
    /// cluster bus port (+10000) is free too.
    pub fn cluster_node(mut self) -> Self {
        self.cluster_node = true;
        self.config("cluster-enabled", "yes")
            .config("cluster-node-timeout", "5000")
    }

    /// Starts from a redis.conf (command-line settings still apply on top).
    pub fn config_file(mut self, path: &Path) -> Self {
        self.config_file = Some(path.to_owned());
        self
    }

    pub fn without_module(mut self) -> Self {
        self.load_module = false;
        self
    }

    /// Starts in an existing directory, e.g. one holding a dump.rdb to load.
    pub fn in_dir(mut self, dir: TempDir) -> Self {
        self.dir = Some(dir);
        self
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
            if self.load_module {
                command.arg("--loadmodule").arg(module_path());
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
}

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            cluster_node: false,
            config_file: None,
            args: Vec::new(),
            load_module: true,
            dir: None,
        }
    }

    /// A server with the module loaded and default settings.
    pub fn start() -> Server {
        Server::builder().start()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn connect(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .expect("client")
            .get_connection()
            .expect("connection")
    }

    /// A connection speaking RESP3 (`HELLO 3`).
    pub fn connect_resp3(&self) -> redis::Connection {
        let url = format!("{}?protocol=resp3", self.url());
        redis::Client::open(url)
            .expect("client")
            .get_connection()
            .expect("connection")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
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

    /// Stops the server and returns its directory (e.g. to restart from its files).
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

/// The whole error line a server replied, as redis-cli shows it: the code and
/// its detail, e.g. `ERR syntax error` or `WRONGTYPE Operation against ...`.
pub fn error_text(error: &redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_owned(),
        _ => panic!("not an error reply from the server: {error:?}"),
    }
}

/// Sends a command that must fail and returns the server's error line.
pub fn query_error(command: &redis::Cmd, connection: &mut redis::Connection) -> String {
    match command.query::<redis::Value>(connection) {
        Ok(value) => panic!("expected an error reply, got {value:?}"),
        Err(error) => error_text(&error),
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

/// MULTIMAP.INSERT; panics on an error reply.
pub fn insert<K, F, V>(con: &mut redis::Connection, key: K, field: F, values: &[V]) -> i64
where
    K: redis::ToRedisArgs,
    F: redis::ToRedisArgs,
    V: redis::ToRedisArgs,
{
    redis::cmd("MULTIMAP.INSERT")
        .arg(key)
        .arg(field)
        .arg(values)
        .query(con)
        .expect("MULTIMAP.INSERT")
}

/// MULTIMAP.GET as text; panics on an error reply.
pub fn get(con: &mut redis::Connection, key: &str, field: &str) -> Vec<String> {
    redis::cmd("MULTIMAP.GET")
        .arg(key)
        .arg(field)
        .query(con)
        .expect("MULTIMAP.GET")
}

/// Deterministic pseudo-random numbers (SplitMix64), so a failing random test
/// replays exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One `name:value` line of `INFO <section>`, e.g.
/// `info_field(con, "persistence", "aof_rewrite_in_progress")`.
pub fn info_field(connection: &mut redis::Connection, section: &str, name: &str) -> Option<String> {
    let text: String = redis::cmd("INFO")
        .arg(section)
        .query(connection)
        .expect("INFO");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(|value| value.trim().to_owned())
}

/// Polls `condition` every few milliseconds until it holds; panics naming
/// `what` once `timeout` has passed.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        sleep(Duration::from_millis(10));
    }
}

/// Arguments that are not 64-bit integers by Redis's rules.
pub const NOT_INTEGERS: [&str; 8] = [
    "a",
    "1.5",
    "",
    "1a",
    " 1",
    "0x10",
    "9223372036854775808",
    "-9223372036854775809",
];
