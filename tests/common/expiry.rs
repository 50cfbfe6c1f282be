//! Field expiries as clients see them: each field's `MULTIMAP.PEXPIRETIME`
//! beside its values, the server's clock, the `INFO multimap` expiry counters,
//! and waiting for active expiry to remove what nobody touches.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::{Connection, ConnectionLike};

use super::client::{getall, info_number, insert, query, wait_for, Bytes};

/// What `MULTIMAP.PEXPIRETIME` replies for a field without an expiry.
pub const NO_EXPIRY: i64 = -1;
/// What the TTL family replies for a missing (or expired) field.
pub const NO_FIELD: i64 = -2;

/// How long after its expiry time a field nobody touches may still be
/// stored: the 2 s the issue promises on an idle server, and a second for a
/// machine shared with other test processes.
pub const ACTIVE_EXPIRY_BOUND: Duration = Duration::from_secs(3);

/// A MultiMap's content with each field's expiry: field -> (values, the
/// field's PEXPIRETIME, -1 for none).
pub type TimedFields = BTreeMap<Bytes, (Vec<Bytes>, i64)>;

/// The server's clock in unix milliseconds (`TIME`).
pub fn server_time_ms(con: &mut impl ConnectionLike) -> i64 {
    let (seconds, micros): (i64, i64) = query(con, &["TIME"]);
    seconds * 1000 + micros / 1000
}

/// `name key FIELDS n field...`, e.g. `MULTIMAP.PEXPIRETIME` or `MULTIMAP.PERSIST`:
/// one integer per field.
pub fn per_field<F: AsRef<[u8]>>(
    con: &mut impl ConnectionLike,
    name: &str,
    key: &[u8],
    fields: &[F],
) -> Vec<i64> {
    let fields: Vec<&[u8]> = fields.iter().map(AsRef::as_ref).collect();
    query(con, (name, key, "FIELDS", fields.len(), fields))
}

/// `MULTIMAP.PEXPIRETIME key FIELDS n field...`.
pub fn pexpiretimes<F: AsRef<[u8]>>(
    con: &mut impl ConnectionLike,
    key: &[u8],
    fields: &[F],
) -> Vec<i64> {
    per_field(con, "MULTIMAP.PEXPIRETIME", key, fields)
}

/// `MULTIMAP.PEXPIREAT key at FIELDS n field...` without a condition; every
/// field must exist and take the time (reply 1 each).
pub fn pexpireat<F: AsRef<[u8]>>(
    con: &mut impl ConnectionLike,
    key: &[u8],
    at_ms: i64,
    fields: &[F],
) {
    let fields: Vec<&[u8]> = fields.iter().map(AsRef::as_ref).collect();
    let replies: Vec<i64> = query(
        con,
        (
            "MULTIMAP.PEXPIREAT",
            key,
            at_ms,
            "FIELDS",
            fields.len(),
            &fields,
        ),
    );
    assert!(
        replies.iter().all(|&reply| reply == 1),
        "MULTIMAP.PEXPIREAT {at_ms} on {} fields of {}: {replies:?}",
        fields.len(),
        key.escape_ascii()
    );
}

/// Every live field of `key` with its values and PEXPIRETIME.
pub fn timed_content(con: &mut impl ConnectionLike, key: &[u8]) -> TimedFields {
    let content = getall(con, key);
    if content.is_empty() {
        return TimedFields::new();
    }
    let fields: Vec<&Bytes> = content.keys().collect();
    let times = pexpiretimes(con, key, &fields);
    content
        .into_iter()
        .zip(times)
        .map(|((field, values), time)| (field, (values, time)))
        .collect()
}

/// `multimap_expired_fields`: fields removed because they expired, since start.
pub fn expired_fields(con: &mut impl ConnectionLike) -> i64 {
    info_number(con, "multimap", "multimap_expired_fields")
}

/// `multimap_fields_with_expiry`: live fields that carry an expiry.
pub fn fields_with_expiry(con: &mut impl ConnectionLike) -> i64 {
    info_number(con, "multimap", "multimap_fields_with_expiry")
}

/// `multimap_fields`: every field the module holds.
pub fn stored_fields(con: &mut impl ConnectionLike) -> i64 {
    info_number(con, "multimap", "multimap_fields")
}

/// Waits until the server's clock reaches `at_ms`, without touching any key.
pub fn wait_for_server_time(con: &mut impl ConnectionLike, at_ms: i64) {
    let now = server_time_ms(con);
    let wait = Duration::from_millis(u64::try_from(at_ms - now).unwrap_or(0));
    wait_for(
        "the server's clock",
        wait + Duration::from_secs(5),
        || server_time_ms(con),
        |&now| now >= at_ms,
    );
}

/// Waits until at least `count` fields have been removed by expiry
/// (`multimap_expired_fields`), by `ACTIVE_EXPIRY_BOUND` after `expiry_ms`,
/// and returns the counter.
pub fn wait_for_expired_fields(con: &mut impl ConnectionLike, count: i64, expiry_ms: i64) -> i64 {
    let bound = deadline_after(con, expiry_ms);
    wait_for(
        &format!("{count} fields removed by active expiry"),
        bound,
        || expired_fields(con),
        |&expired| expired >= count,
    )
}

/// How long from now until `ACTIVE_EXPIRY_BOUND` after `expiry_ms`.
pub fn deadline_after(con: &mut impl ConnectionLike, expiry_ms: i64) -> Duration {
    let now = server_time_ms(con);
    let left = expiry_ms + ACTIVE_EXPIRY_BOUND.as_millis() as i64 - now;
    Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

/// Waits until `key` no longer exists at key level (`EXISTS`, which knows
/// nothing of field expiry, so only a physical removal ends it), by
/// `ACTIVE_EXPIRY_BOUND` after `expiry_ms`.
pub fn wait_for_key_removed(con: &mut impl ConnectionLike, key: &[u8], expiry_ms: i64) {
    let bound = deadline_after(con, expiry_ms);
    wait_for(
        &format!("{} to be removed by active expiry", key.escape_ascii()),
        bound,
        || query::<i64>(con, ("EXISTS", key)),
        |&exists| exists == 0,
    );
}

// ---------------------------------------------------------------- keys carried around

/// A key whose fields expire far in the future, but for one field.
pub const TIMED: &[u8] = b"timed\0\xff";
/// A key whose only field expires soon: it disappears when that field does.
pub const VANISHING: &[u8] = b"vanishing";
/// The field of `TIMED` that expires soon.
pub const SOON: &[u8] = b"soon\0";
/// Fields of `TIMED` with far expiries, four at a time sharing one.
const FAR_FIELDS: usize = 200;
const HOUR_MS: i64 = 3_600_000;

/// The keys the durability tests move from place to place, as written: a
/// key whose fields carry far expiries (distinct and shared, set absolutely
/// and relatively), one without, and one expiring at `soon_ms`; and a key
/// whose only field expires at `soon_ms`.
pub struct ExpiringKeys {
    pub soon_ms: i64,
    pub timed: TimedFields,
    pub vanishing: TimedFields,
}

impl ExpiringKeys {
    /// Writes `TIMED` and `VANISHING`, the soon fields expiring `soon_in` from now.
    pub fn write(con: &mut Connection, soon_in: Duration) -> ExpiringKeys {
        let now = server_time_ms(con);
        let soon_ms = now + soon_in.as_millis() as i64;
        insert(con, TIMED, b"keep", &[&b"a"[..], b"\0", b"a"]);
        insert(con, TIMED, b"\0\xff", &[&b"\xff"[..], b""]);
        insert(con, TIMED, b"relative", &[b"r"]);
        insert(con, TIMED, SOON, &[&b"s"[..], b"s"]);
        let far: Vec<Bytes> = (0..FAR_FIELDS)
            .map(|i| format!("far:{i}").into_bytes())
            .collect();
        let mut pipe = redis::pipe();
        for (i, field) in far.iter().enumerate() {
            pipe.cmd("MULTIMAP.INSERT")
                .arg(TIMED)
                .arg(field)
                .arg(i.to_string())
                .ignore();
        }
        pipe.exec(con).expect("pipelined MULTIMAP.INSERT");
        pexpireat(con, TIMED, now + HOUR_MS + 1, &[b"\0\xff"]);
        let relative: Vec<i64> = query(
            con,
            ("MULTIMAP.EXPIRE", TIMED, 7200, "FIELDS", 1, "relative"),
        );
        assert_eq!(relative, [1]);
        pexpireat(con, TIMED, soon_ms, &[SOON]);
        for (group, fields) in far.chunks(4).enumerate() {
            pexpireat(con, TIMED, now + 2 * HOUR_MS + 1000 * group as i64, fields);
        }
        insert(con, VANISHING, b"only", &[b"v"]);
        pexpireat(con, VANISHING, soon_ms, &[b"only"]);
        ExpiringKeys {
            soon_ms,
            timed: timed_content(con, TIMED),
            vanishing: timed_content(con, VANISHING),
        }
    }

    /// How many fields expire at `soon_ms`.
    pub fn soon_fields(&self) -> i64 {
        let soon = |timed: &TimedFields| {
            timed
                .values()
                .filter(|(_, time)| *time == self.soon_ms)
                .count() as i64
        };
        soon(&self.timed) + soon(&self.vanishing)
    }

    /// `expected` once its fields expiring at `soon_ms` are gone.
    pub fn after_soon(&self, expected: &TimedFields) -> TimedFields {
        expected
            .iter()
            .filter(|(_, (_, time))| *time != self.soon_ms)
            .map(|(field, entry)| (field.clone(), entry.clone()))
            .collect()
    }

    /// Checks that `key` holds `expected`, values and expiry times, except
    /// that a field expiring at `soon_ms` may be gone once the clock has
    /// passed it (an operation that took that long); returns how many such
    /// fields are still there.
    pub fn assert_carried(
        &self,
        con: &mut impl ConnectionLike,
        key: &[u8],
        expected: &TimedFields,
    ) -> i64 {
        let got = timed_content(con, key);
        let now = server_time_ms(con);
        let shown = key.escape_ascii();
        assert_eq!(
            self.after_soon(&got),
            self.after_soon(expected),
            "{shown}: content and PEXPIRETIME of the fields that expire late"
        );
        let mut soon_alive = 0;
        for (field, entry) in expected.iter().filter(|(_, (_, t))| *t == self.soon_ms) {
            match got.get(field) {
                Some(found) => {
                    assert_eq!(found, entry, "{shown}: field {}", field.escape_ascii());
                    soon_alive += 1;
                }
                None => assert!(
                    now >= self.soon_ms,
                    "{shown}: field {} gone {} ms before its expiry",
                    field.escape_ascii(),
                    self.soon_ms - now
                ),
            }
        }
        soon_alive
    }

    /// Checks that `timed` and `vanishing` hold what `TIMED` and `VANISHING`
    /// were written with, then that active expiry removes their soon fields,
    /// for keys that an operation moved or copied whole.
    pub fn assert_carried_then_reclaimed(
        &self,
        con: &mut Connection,
        timed: &[u8],
        vanishing: &[u8],
    ) {
        let alive = self.assert_carried(con, timed, &self.timed)
            + self.assert_carried(con, vanishing, &self.vanishing);
        self.assert_reclaimed(con, timed, &self.timed, vanishing, alive);
    }

    /// Waits until active expiry has removed the soon fields: the vanishing
    /// key (under its name `vanishing` here) no longer exists, the counter of
    /// expired fields has reached `expired`, and `timed` holds what `expected`
    /// keeps after `soon_ms`.
    pub fn assert_reclaimed(
        &self,
        con: &mut Connection,
        timed: &[u8],
        expected: &TimedFields,
        vanishing: &[u8],
        expired: i64,
    ) {
        wait_for_key_removed(con, vanishing, self.soon_ms);
        wait_for_expired_fields(con, expired, self.soon_ms);
        assert_eq!(
            timed_content(con, timed),
            self.after_soon(expected),
            "{} after its soon field expired",
            timed.escape_ascii()
        );
    }
}
