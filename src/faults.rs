//! Fault injection for the tests that prove the panic path: built with the
//! `fault-injection` feature, a callback panics when the map it works on has a
//! field named `fault:<callback>` (`fault:rdb_save`, ...), and a command
//! panics when a field argument is `fault:command`. Without the feature every
//! check is an empty inline function.
#![forbid(unsafe_code)]

use crate::multimap::MultiMap;

#[derive(Clone, Copy, Debug)]
pub enum Callback {
    RdbLoad,
    RdbSave,
    AofRewrite,
    MemUsage,
    Digest,
    Copy,
    FreeEffort,
    Defrag,
}

#[cfg(feature = "fault-injection")]
impl Callback {
    fn marker(self) -> &'static [u8] {
        match self {
            Callback::RdbLoad => b"fault:rdb_load",
            Callback::RdbSave => b"fault:rdb_save",
            Callback::AofRewrite => b"fault:aof_rewrite",
            Callback::MemUsage => b"fault:mem_usage",
            Callback::Digest => b"fault:digest",
            Callback::Copy => b"fault:copy",
            Callback::FreeEffort => b"fault:free_effort",
            Callback::Defrag => b"fault:defrag",
        }
    }
}

#[cfg(feature = "fault-injection")]
pub fn trip(map: &MultiMap, callback: Callback) {
    if map.get(callback.marker()).is_some() {
        panic!("fault injected in {callback:?}");
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn trip(_: &MultiMap, _: Callback) {}

#[cfg(feature = "fault-injection")]
pub fn trip_command(field: &[u8]) {
    if field == b"fault:command" {
        panic!("fault injected in a command");
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn trip_command(_: &[u8]) {}
