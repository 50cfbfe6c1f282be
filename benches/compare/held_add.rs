//! ADD of a value the field already holds: with a value set, the field's
//! set places the one value that has the argument's fingerprint and ADD
//! reads that value alone, as `SADD` answers from the set beside a list.

use super::{Call, CpuOperation, TAGS};

pub(super) const OPERATIONS: &[CpuOperation] = &[CpuOperation {
    label: "add 1 held value to a 1k-value field: ADD vs SADD (a set beside each list)",
    data: &TAGS,
    reload: false,
    calls: 20_000,
    module: Call {
        prepare: &[],
        timed: &[(
            "multimap.add",
            &["MULTIMAP.ADD", "tags", "{field}", "{value}"],
        )],
        restore: &[],
    },
    // A held value: the set says so, and the list is left alone.
    native: Call {
        prepare: &[],
        timed: &[("sadd", &["SADD", "tags:{field}:set", "{value}"])],
        restore: &[],
    },
    floor: None,
}];
