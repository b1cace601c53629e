//! Fuzzes the server's allowlist validator with arbitrary bytes. Beyond
//! "never panics": whatever it accepts must be a clean batch, that is, it
//! serializes to a body the validator accepts again unchanged, with nothing
//! left to drop.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tally_telemetry::schema::validate::validate;

fuzz_target!(|data: &[u8]| {
    // A fixed "today" keeps runs reproducible.
    let today = tally_telemetry::schema::parse_day("2026-11-21").unwrap();
    if let Ok(v) = validate(data, today) {
        let body = serde_json::to_vec(&v.batch).expect("a batch serializes");
        let again = validate(&body, today).expect("a cleaned batch validates");
        assert_eq!(again.drops.total(), 0, "a cleaned batch had more to drop");
        assert_eq!(again.batch, v.batch, "a cleaned batch changed on revalidation");
    }
});
