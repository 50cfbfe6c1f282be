//! Every MULTIMAP command, declared once: its name, the method that sends it,
//! the method's arguments, and how they go on the wire. `multimap_commands!`
//! turns that list into [`COMMANDS`], a builder of each command, and the
//! three traits that send them, so that no trait can miss a command or send
//! another name than [`COMMANDS`] lists.

use redis::{
    Cmd, ConnectionLike, Direction, ExpireOption, FromRedisValue, LposOptions, RedisResult,
    RedisWrite, ToRedisArgs, ToSingleRedisArg,
};

use crate::ScanOptions;

macro_rules! multimap_commands {
    (
        $(
            $(#[$doc:meta])*
            $command:literal => fn $method:ident<$($param:ident: $bound:path),*>(
                $($arg:ident: $arg_type:ty),*
            ) |$cmd:ident| $wire:expr;
        )*
    ) => {
        /// The name of every MULTIMAP command the methods send, in upper case
        /// as the module's documentation spells it (the server reports them in
        /// lower case). `multimap_<name>` is the method that sends
        /// `MULTIMAP.<NAME>`: `multimap_insert` sends `MULTIMAP.INSERT`.
        pub const COMMANDS: &[&str] = &[$($command),*];

        /// The method of each command, in the order of [`COMMANDS`].
        #[cfg(test)]
        const METHODS: &[&str] = &[$(stringify!($method)),*];

        /// One function per command, building it: the only place that puts a
        /// command's arguments on the wire.
        mod build {
            use super::*;

            $(
                pub(super) fn $method<$($param: $bound),*>($($arg: $arg_type),*) -> Cmd {
                    let mut $cmd = redis::cmd($command);
                    $wire;
                    $cmd
                }
            )*
        }

        /// The MULTIMAP commands on a synchronous connection: implemented for
        /// every [`redis::ConnectionLike`] ([`redis::Connection`], the
        /// cluster's [`ClusterConnection`](redis::cluster::ClusterConnection),
        /// a pooled connection...).
        ///
        /// Each method sends one command and converts the reply to the type
        /// the caller asks for (`RV`), as the redis crate's `Commands` and
        /// `JsonCommands` do; each method's documentation names the types
        /// that fit its reply.
        ///
        /// ```no_run
        /// use redis_multimap_client::MultiMapCommands;
        ///
        /// # fn run() -> redis::RedisResult<()> {
        /// let mut con = redis::Client::open("redis://127.0.0.1/")?.get_connection()?;
        /// let len: usize = con.multimap_insert("user:1:tags", "colors", &["red", "blue"])?;
        /// let colors: Vec<String> = con.multimap_get("user:1:tags", "colors")?;
        /// assert_eq!((len, colors), (2, vec!["red".to_owned(), "blue".to_owned()]));
        /// # Ok(()) }
        /// ```
        pub trait MultiMapCommands: ConnectionLike + Sized {
            $(
                $(#[$doc])*
                #[inline]
                fn $method<$($param: $bound,)* RV: FromRedisValue>(
                    &mut self,
                    $($arg: $arg_type),*
                ) -> RedisResult<RV> {
                    build::$method($($arg),*).query(self)
                }
            )*

            /// Iterates over the fields of `key` with `MULTIMAP.SCAN`, calling
            /// it again with each cursor the server returns until it returns
            /// 0. Each item is one field with its values: ask for pairs, such
            /// as `(Vec<u8>, Vec<Vec<u8>>)`. A full iteration returns every
            /// field present for its whole duration at least once, and, on a
            /// key that does not change meanwhile, each field exactly once.
            ///
            /// ```no_run
            /// use redis_multimap_client::{MultiMapCommands, ScanOptions};
            ///
            /// # fn run(con: &mut redis::Connection) -> redis::RedisResult<()> {
            /// let options = ScanOptions::default().with_pattern("color*");
            /// for entry in con.multimap_scan_iter::<_, (String, Vec<String>)>("user:1:tags", options)? {
            ///     let (field, values) = entry?;
            ///     println!("{field}: {values:?}");
            /// }
            /// # Ok(()) }
            /// ```
            #[inline]
            fn multimap_scan_iter<K: ToSingleRedisArg, RV: FromRedisValue>(
                &mut self,
                key: K,
                options: ScanOptions,
            ) -> RedisResult<redis::Iter<'_, RV>> {
                build::multimap_scan(key, 0, options).iter(self)
            }
        }

        impl<T: ConnectionLike> MultiMapCommands for T {}

        /// The MULTIMAP commands on an asynchronous connection: implemented
        /// for every [`redis::aio::ConnectionLike`] that is `Send`
        /// ([`MultiplexedConnection`](redis::aio::MultiplexedConnection),
        /// `ConnectionManager`, the async cluster's `ClusterConnection`...).
        /// The same methods as [`MultiMapCommands`], each returning a
        /// [`redis::RedisFuture`].
        ///
        /// The arguments are written into the command when the method is
        /// called, so the future borrows only the connection.
        ///
        /// ```no_run
        /// use redis_multimap_client::AsyncMultiMapCommands;
        ///
        /// # async fn run() -> redis::RedisResult<()> {
        /// let client = redis::Client::open("redis://127.0.0.1/")?;
        /// let mut con = client.get_multiplexed_async_connection().await?;
        /// let len: usize = con.multimap_insert("user:1:tags", "colors", &["red", "blue"]).await?;
        /// let colors: Vec<String> = con.multimap_get("user:1:tags", "colors").await?;
        /// # Ok(()) }
        /// ```
        #[cfg(feature = "aio")]
        pub trait AsyncMultiMapCommands: redis::aio::ConnectionLike + Send + Sized {
            $(
                $(#[$doc])*
                #[inline]
                fn $method<'a, $($param: $bound,)* RV: FromRedisValue>(
                    &'a mut self,
                    $($arg: $arg_type),*
                ) -> redis::RedisFuture<'a, RV> {
                    let command = build::$method($($arg),*);
                    Box::pin(async move { command.query_async(self).await })
                }
            )*

            /// Iterates over the fields of `key` with `MULTIMAP.SCAN`, as
            /// [`MultiMapCommands::multimap_scan_iter`] does, as a stream
            /// (`redis::AsyncIter` implements `futures::Stream`).
            ///
            /// ```no_run
            /// use redis_multimap_client::{AsyncMultiMapCommands, ScanOptions};
            ///
            /// # async fn run(con: &mut redis::aio::MultiplexedConnection) -> redis::RedisResult<()> {
            /// let mut fields = con
            ///     .multimap_scan_iter::<_, (Vec<u8>, Vec<Vec<u8>>)>("user:1:tags", ScanOptions::default())
            ///     .await?;
            /// while let Some(entry) = fields.next_item().await {
            ///     let (field, values) = entry?;
            /// }
            /// # Ok(()) }
            /// ```
            #[inline]
            fn multimap_scan_iter<'a, K: ToSingleRedisArg, RV: FromRedisValue + 'a>(
                &'a mut self,
                key: K,
                options: ScanOptions,
            ) -> redis::RedisFuture<'a, redis::AsyncIter<'a, RV>> {
                let command = build::multimap_scan(key, 0, options);
                Box::pin(async move { command.iter_async(self).await })
            }
        }

        #[cfg(feature = "aio")]
        impl<T: redis::aio::ConnectionLike + Send> AsyncMultiMapCommands for T {}

        /// The MULTIMAP commands in a pipeline: implemented for
        /// [`redis::Pipeline`], which runs on synchronous and asynchronous
        /// connections alike, atomically (`MULTI`/`EXEC`, with
        /// [`atomic`](redis::Pipeline::atomic)) or not, and for the cluster's
        /// [`ClusterPipeline`](redis::cluster::ClusterPipeline). Each method
        /// adds its command and returns the pipeline, to chain calls and
        /// [`ignore`](redis::Pipeline::ignore) replies as with the redis
        /// crate's own commands.
        ///
        /// ```no_run
        /// use redis_multimap_client::MultiMapPipeline;
        ///
        /// # fn run(con: &mut redis::Connection) -> redis::RedisResult<()> {
        /// let (len, colors): (usize, Vec<String>) = redis::pipe()
        ///     .atomic()
        ///     .multimap_insert("user:1:tags", "colors", &["red", "blue"])
        ///     .multimap_get("user:1:tags", "colors")
        ///     .query(con)?;
        /// # Ok(()) }
        /// ```
        pub trait MultiMapPipeline: sealed::Pipeline {
            $(
                $(#[$doc])*
                #[inline]
                fn $method<$($param: $bound),*>(&mut self, $($arg: $arg_type),*) -> &mut Self {
                    self.add_multimap_command(build::$method($($arg),*))
                }
            )*
        }

        impl<P: sealed::Pipeline> MultiMapPipeline for P {}
    };
}

/// `FIELDS numfields field [field ...]`, the tail of every field-expiry
/// command: the count is of the fields given, however they are given.
struct Fields<F>(F);

impl<F: ToRedisArgs> ToRedisArgs for Fields<F> {
    fn write_redis_args<W>(&self, out: &mut W)
    where
        W: ?Sized + RedisWrite,
    {
        out.write_arg(b"FIELDS");
        out.write_arg_fmt(self.0.num_of_args());
        self.0.write_redis_args(out);
    }

    fn num_of_args(&self) -> usize {
        2 + self.0.num_of_args()
    }
}

/// The redis crate's pipelines share no trait to add a command through; this
/// one gives them one. Being private, it keeps [`MultiMapPipeline`] to these
/// pipelines.
mod sealed {
    use redis::Cmd;

    pub trait Pipeline {
        fn add_multimap_command(&mut self, command: Cmd) -> &mut Self;
    }

    impl Pipeline for redis::Pipeline {
        fn add_multimap_command(&mut self, command: Cmd) -> &mut Self {
            self.add_command(command)
        }
    }

    #[cfg(feature = "cluster")]
    impl Pipeline for redis::cluster::ClusterPipeline {
        fn add_multimap_command(&mut self, command: Cmd) -> &mut Self {
            self.add_command(command)
        }
    }
}

multimap_commands! {
    /// `MULTIMAP.INSERT key field value [value ...]`: appends `values` (one
    /// value, or a slice or `Vec` of them) to `field`, creating the
    /// key and the field as needed.
    ///
    /// Replies the number of values in the field afterwards (`usize`).
    "MULTIMAP.INSERT" => fn multimap_insert<K: ToSingleRedisArg, F: ToSingleRedisArg, V: ToRedisArgs>(
        key: K, field: F, values: V
    ) |command| command.arg(key).arg(field).arg(values);

    /// `MULTIMAP.GET key field`: the values of `field` in order, none if the
    /// field or the key is missing (`Vec<Vec<u8>>`, `Vec<String>`...).
    "MULTIMAP.GET" => fn multimap_get<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F
    ) |command| command.arg(key).arg(field);

    /// `MULTIMAP.VALUES key field`: the same as [`multimap_get`](Self::multimap_get),
    /// under the name the original redis-multi-map module used.
    "MULTIMAP.VALUES" => fn multimap_values<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F
    ) |command| command.arg(key).arg(field);

    /// `MULTIMAP.LEN key field`: the number of values in `field`, 0 if it is
    /// missing (`usize`).
    "MULTIMAP.LEN" => fn multimap_len<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F
    ) |command| command.arg(key).arg(field);

    /// `MULTIMAP.RANGE key field start stop`: the values from index `start`
    /// to `stop`, both included, with `LRANGE`'s rules (negative indexes
    /// count from the end) (`Vec<Vec<u8>>`, `Vec<String>`...).
    "MULTIMAP.RANGE" => fn multimap_range<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F, start: isize, stop: isize
    ) |command| command.arg(key).arg(field).arg(start).arg(stop);

    /// `MULTIMAP.CONTAINS key field value`: whether `field` holds `value`
    /// (`bool`).
    "MULTIMAP.CONTAINS" => fn multimap_contains<K: ToSingleRedisArg, F: ToSingleRedisArg, V: ToSingleRedisArg>(
        key: K, field: F, value: V
    ) |command| command.arg(key).arg(field).arg(value);

    /// `MULTIMAP.EXISTS key field`: whether `field` exists (`bool`).
    "MULTIMAP.EXISTS" => fn multimap_exists<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F
    ) |command| command.arg(key).arg(field);

    /// `MULTIMAP.REMOVE key field value [value ...]`: removes every
    /// occurrence of each of `values` from `field`.
    ///
    /// Replies the number of values removed (`usize`).
    "MULTIMAP.REMOVE" => fn multimap_remove<K: ToSingleRedisArg, F: ToSingleRedisArg, V: ToRedisArgs>(
        key: K, field: F, values: V
    ) |command| command.arg(key).arg(field).arg(values);

    /// `MULTIMAP.REPLACE key field value [value ...]`: makes `field` hold
    /// exactly `values`, in order; clears the field's expiry.
    ///
    /// Replies the number of values in the field afterwards (`usize`).
    "MULTIMAP.REPLACE" => fn multimap_replace<K: ToSingleRedisArg, F: ToSingleRedisArg, V: ToRedisArgs>(
        key: K, field: F, values: V
    ) |command| command.arg(key).arg(field).arg(values);

    /// `MULTIMAP.DEL key field [field ...]`: deletes whole fields (one, or a
    /// slice or `Vec` of them).
    ///
    /// Replies the number of fields deleted (`usize`).
    "MULTIMAP.DEL" => fn multimap_del<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, fields: F
    ) |command| command.arg(key).arg(fields);

    /// `MULTIMAP.CARD key`: the number of fields, 0 if the key is missing
    /// (`usize`).
    "MULTIMAP.CARD" => fn multimap_card<K: ToSingleRedisArg>(
        key: K
    ) |command| command.arg(key);

    /// `MULTIMAP.SIZE key`: the number of values over all fields, 0 if the
    /// key is missing (`usize`).
    "MULTIMAP.SIZE" => fn multimap_size<K: ToSingleRedisArg>(
        key: K
    ) |command| command.arg(key);

    /// `MULTIMAP.FIELDS key`: every field name, in an unspecified order
    /// (`Vec<Vec<u8>>`, `Vec<String>`, `HashSet<String>`...).
    "MULTIMAP.FIELDS" => fn multimap_fields<K: ToSingleRedisArg>(
        key: K
    ) |command| command.arg(key);

    /// `MULTIMAP.GETALL key`: every field with its values. The server replies
    /// a flat array `field, [values], ...` under RESP2 and a map under RESP3
    /// (on Redis 7.0+ and Valkey); a map type reads both:
    /// `HashMap<Vec<u8>, Vec<Vec<u8>>>`, `BTreeMap<String, Vec<String>>`...
    "MULTIMAP.GETALL" => fn multimap_getall<K: ToSingleRedisArg>(
        key: K
    ) |command| command.arg(key);

    /// `MULTIMAP.SCAN key cursor [MATCH pattern] [COUNT count]`: one step of
    /// an iteration over the fields; start with cursor 0 and pass back the
    /// cursor each reply brings until it is 0 (or, on a connection, let
    /// [`multimap_scan_iter`](MultiMapCommands::multimap_scan_iter) do it).
    ///
    /// Replies the next cursor and the fields found with their values:
    /// `(u64, Vec<(Vec<u8>, Vec<Vec<u8>>)>)`.
    "MULTIMAP.SCAN" => fn multimap_scan<K: ToSingleRedisArg>(
        key: K, cursor: u64, options: ScanOptions
    ) |command| command.arg(key).cursor_arg(cursor).arg(options);

    /// `MULTIMAP.PREPEND key field value [value ...]`: adds `values` at the
    /// front of `field`, in the order given (unlike `LPUSH`, which reverses
    /// them), creating the key and the field as needed.
    ///
    /// Replies the number of values in the field afterwards (`usize`).
    "MULTIMAP.PREPEND" => fn multimap_prepend<K: ToSingleRedisArg, F: ToSingleRedisArg, V: ToRedisArgs>(
        key: K, field: F, values: V
    ) |command| command.arg(key).arg(field).arg(values);

    /// `MULTIMAP.ADD key field value [value ...]`: appends each of `values`
    /// that `field` does not hold yet (a value given twice is added once).
    ///
    /// Replies the number of values appended (`usize`).
    "MULTIMAP.ADD" => fn multimap_add<K: ToSingleRedisArg, F: ToSingleRedisArg, V: ToRedisArgs>(
        key: K, field: F, values: V
    ) |command| command.arg(key).arg(field).arg(values);

    /// `MULTIMAP.POP key field LEFT|RIGHT [COUNT count]`: removes and returns
    /// values from the front ([`Direction::Left`]) or the back
    /// ([`Direction::Right`]) of `field`, as `LPOP`/`RPOP`.
    ///
    /// Without `count`, replies the value, or nil when the field is missing
    /// (`Option<Vec<u8>>`, `Option<String>`). With `count`, up to `count`
    /// values in the order popped, or nil when the field is missing
    /// (`Option<Vec<Vec<u8>>>`).
    "MULTIMAP.POP" => fn multimap_pop<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F, side: Direction, count: Option<usize>
    ) |command| command.arg(key).arg(field).arg(side).arg(count.map(|count| ("COUNT", count)));

    /// `MULTIMAP.BPOP key field LEFT|RIGHT timeout [COUNT count]`:
    /// [`multimap_pop`](Self::multimap_pop) that waits up to `timeout`
    /// seconds (0: for ever) for values when the field has none, as
    /// `BLPOP`/`BLMPOP`. Inside a transaction it never waits.
    ///
    /// Replies the values popped (1, or up to `count`), or nil when the
    /// timeout ran out (`Option<Vec<Vec<u8>>>`). A connection's own response
    /// timeout must outlast `timeout`: async connections have one of 500 ms
    /// by default (see the crate's documentation).
    "MULTIMAP.BPOP" => fn multimap_bpop<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F, side: Direction, timeout: f64, count: Option<usize>
    ) |command| command.arg(key).arg(field).arg(side).arg(timeout).arg(count.map(|count| ("COUNT", count)));

    /// `MULTIMAP.INDEX key field index`: the value at `index` (negative
    /// counts from the end), or nil (`Option<Vec<u8>>`, `Option<String>`).
    "MULTIMAP.INDEX" => fn multimap_index<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F, index: isize
    ) |command| command.arg(key).arg(field).arg(index);

    /// `MULTIMAP.SET key field index value`: replaces the value at `index`,
    /// as `LSET` (`()`); `ERR no such key` when the field is missing,
    /// `ERR index out of range` past its ends.
    "MULTIMAP.SET" => fn multimap_set<K: ToSingleRedisArg, F: ToSingleRedisArg, V: ToSingleRedisArg>(
        key: K, field: F, index: isize, value: V
    ) |command| command.arg(key).arg(field).arg(index).arg(value);

    /// `MULTIMAP.TRIM key field start stop`: keeps only the values from
    /// `start` to `stop`, both included, as `LTRIM` (`()`).
    "MULTIMAP.TRIM" => fn multimap_trim<K: ToSingleRedisArg, F: ToSingleRedisArg>(
        key: K, field: F, start: isize, stop: isize
    ) |command| command.arg(key).arg(field).arg(start).arg(stop);

    /// `MULTIMAP.POS key field value [RANK rank] [COUNT num] [MAXLEN len]`:
    /// where `field` holds `value`, as `LPOS`, with the same options
    /// ([`LposOptions`]).
    ///
    /// Without a count, replies the first index, or nil (`Option<usize>`);
    /// with a count, up to that many indexes, all of them for 0
    /// (`Vec<usize>`).
    "MULTIMAP.POS" => fn multimap_pos<K: ToSingleRedisArg, F: ToSingleRedisArg, V: ToSingleRedisArg>(
        key: K, field: F, value: V, options: LposOptions
    ) |command| command.arg(key).arg(field).arg(value).arg(options);

    /// `MULTIMAP.EXPIRE key seconds [NX|XX|GT|LT] FIELDS numfields field [field ...]`:
    /// makes `fields` expire in `seconds`, as `HEXPIRE`, under the condition
    /// `option` ([`ExpireOption::NONE`] for none).
    ///
    /// Replies one code per field (`Vec<i64>`): -2 no such field, 0 the
    /// condition was not met, 1 set, 2 deleted (the time was not in the
    /// future).
    "MULTIMAP.EXPIRE" => fn multimap_expire<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, seconds: i64, option: ExpireOption, fields: F
    ) |command| command.arg(key).arg(seconds).arg(option).arg(Fields(fields));

    /// `MULTIMAP.PEXPIRE key milliseconds [NX|XX|GT|LT] FIELDS numfields field [field ...]`:
    /// [`multimap_expire`](Self::multimap_expire) in milliseconds.
    "MULTIMAP.PEXPIRE" => fn multimap_pexpire<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, milliseconds: i64, option: ExpireOption, fields: F
    ) |command| command.arg(key).arg(milliseconds).arg(option).arg(Fields(fields));

    /// `MULTIMAP.EXPIREAT key unix-time-seconds [NX|XX|GT|LT] FIELDS numfields field [field ...]`:
    /// [`multimap_expire`](Self::multimap_expire) at a Unix time in seconds.
    "MULTIMAP.EXPIREAT" => fn multimap_expireat<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, unix_time_seconds: i64, option: ExpireOption, fields: F
    ) |command| command.arg(key).arg(unix_time_seconds).arg(option).arg(Fields(fields));

    /// `MULTIMAP.PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT] FIELDS numfields field [field ...]`:
    /// [`multimap_expire`](Self::multimap_expire) at a Unix time in
    /// milliseconds.
    "MULTIMAP.PEXPIREAT" => fn multimap_pexpireat<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, unix_time_milliseconds: i64, option: ExpireOption, fields: F
    ) |command| command.arg(key).arg(unix_time_milliseconds).arg(option).arg(Fields(fields));

    /// `MULTIMAP.TTL key FIELDS numfields field [field ...]`: how many
    /// seconds `fields` have left, as `HTTL`.
    ///
    /// Replies one integer per field (`Vec<i64>`): -2 no such field, -1 no
    /// expiry, else the seconds left, rounded up.
    "MULTIMAP.TTL" => fn multimap_ttl<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, fields: F
    ) |command| command.arg(key).arg(Fields(fields));

    /// `MULTIMAP.PTTL key FIELDS numfields field [field ...]`:
    /// [`multimap_ttl`](Self::multimap_ttl) in milliseconds.
    "MULTIMAP.PTTL" => fn multimap_pttl<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, fields: F
    ) |command| command.arg(key).arg(Fields(fields));

    /// `MULTIMAP.EXPIRETIME key FIELDS numfields field [field ...]`: when
    /// `fields` expire, as a Unix time in seconds, as `HEXPIRETIME`
    /// (`Vec<i64>`: -2 no such field, -1 no expiry).
    "MULTIMAP.EXPIRETIME" => fn multimap_expiretime<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, fields: F
    ) |command| command.arg(key).arg(Fields(fields));

    /// `MULTIMAP.PEXPIRETIME key FIELDS numfields field [field ...]`:
    /// [`multimap_expiretime`](Self::multimap_expiretime) in milliseconds.
    "MULTIMAP.PEXPIRETIME" => fn multimap_pexpiretime<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, fields: F
    ) |command| command.arg(key).arg(Fields(fields));

    /// `MULTIMAP.PERSIST key FIELDS numfields field [field ...]`: removes the
    /// expiry of `fields`, as `HPERSIST`.
    ///
    /// Replies one code per field (`Vec<i64>`): -2 no such field, -1 it had
    /// no expiry, 1 removed.
    "MULTIMAP.PERSIST" => fn multimap_persist<K: ToSingleRedisArg, F: ToRedisArgs>(
        key: K, fields: F
    ) |command| command.arg(key).arg(Fields(fields));
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use redis::Arg;

    use super::*;

    /// The command's words, `<cursor>` standing for a cursor argument.
    fn words(command: &Cmd) -> Vec<Vec<u8>> {
        command
            .args_iter()
            .map(|arg| match arg {
                Arg::Simple(bytes) => bytes.to_vec(),
                _ => b"<cursor>".to_vec(),
            })
            .collect()
    }

    fn text(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|word| word.as_bytes().to_vec()).collect()
    }

    #[test]
    fn every_command_is_listed_once_and_named_after_its_method() {
        assert_eq!(COMMANDS.len(), METHODS.len());
        assert_eq!(
            COMMANDS.iter().collect::<HashSet<_>>().len(),
            COMMANDS.len(),
            "a command listed twice"
        );
        for (command, method) in COMMANDS.iter().zip(METHODS) {
            let name = command
                .strip_prefix("MULTIMAP.")
                .unwrap_or_else(|| panic!("{command} is not a MULTIMAP command"));
            assert_eq!(*method, format!("multimap_{}", name.to_lowercase()));
            assert_eq!(*command, command.to_uppercase());
        }
    }

    #[test]
    fn several_values_or_fields_go_in_one_command() {
        assert_eq!(
            words(&build::multimap_insert("k", "f", &["a", "b"])),
            text(&["MULTIMAP.INSERT", "k", "f", "a", "b"])
        );
        assert_eq!(
            words(&build::multimap_del("k", vec!["f", "g"])),
            text(&["MULTIMAP.DEL", "k", "f", "g"])
        );
        assert_eq!(
            words(&build::multimap_remove("k", "f", "a")),
            text(&["MULTIMAP.REMOVE", "k", "f", "a"])
        );
    }

    #[test]
    fn pop_sends_count_only_when_given() {
        assert_eq!(
            words(&build::multimap_pop("k", "f", Direction::Left, None)),
            text(&["MULTIMAP.POP", "k", "f", "LEFT"])
        );
        assert_eq!(
            words(&build::multimap_pop("k", "f", Direction::Right, Some(0))),
            text(&["MULTIMAP.POP", "k", "f", "RIGHT", "COUNT", "0"])
        );
        assert_eq!(
            words(&build::multimap_bpop(
                "k",
                "f",
                Direction::Left,
                0.5,
                Some(3)
            )),
            text(&["MULTIMAP.BPOP", "k", "f", "LEFT", "0.5", "COUNT", "3"])
        );
    }

    #[test]
    fn field_expiry_commands_count_their_fields() {
        assert_eq!(
            words(&build::multimap_expire(
                "k",
                10,
                ExpireOption::GT,
                &["a", "b"]
            )),
            text(&["MULTIMAP.EXPIRE", "k", "10", "GT", "FIELDS", "2", "a", "b"])
        );
        assert_eq!(
            words(&build::multimap_pexpireat("k", 5, ExpireOption::NONE, "a")),
            text(&["MULTIMAP.PEXPIREAT", "k", "5", "FIELDS", "1", "a"])
        );
        assert_eq!(
            words(&build::multimap_ttl("k", vec![&b"\xff"[..], b""])),
            [&b"MULTIMAP.TTL"[..], b"k", b"FIELDS", b"2", b"\xff", b""].map(<[u8]>::to_vec)
        );
    }

    #[test]
    fn options_follow_their_command() {
        assert_eq!(
            words(&build::multimap_pos(
                "k",
                "f",
                "v",
                LposOptions::default().rank(-1).count(0)
            )),
            text(&["MULTIMAP.POS", "k", "f", "v", "COUNT", "0", "RANK", "-1"])
        );
        let options = ScanOptions::default()
            .with_pattern(&b"a*"[..])
            .with_count(5);
        assert_eq!(
            words(&build::multimap_scan("k", 7, options)),
            text(&[
                "MULTIMAP.SCAN",
                "k",
                "<cursor>",
                "MATCH",
                "a*",
                "COUNT",
                "5"
            ])
        );
    }
}
