//! Typed keys out of a parsed TOML table, for tally's own small files (the
//! consent file, the admin policy): an unknown key or a value of the wrong
//! type is an error that names the key, as a serde derive's would be.
//!
//! The files are read through a `toml::Table` and this, not a
//! `Deserialize` derive per file: each derive put a copy of toml's generic
//! struct deserializer into every host's binary (about 10 KB each, issue 8's
//! size budget), while the table's parser is there anyway.

use toml::{Table, Value};

/// The keys of one table, checked against the keys a file may have.
pub(crate) struct Keys<'a> {
    table: &'a Table,
}

impl<'a> Keys<'a> {
    /// Refuses a key outside `allowed`.
    pub(crate) fn new(table: &'a Table, allowed: &[&str]) -> Result<Keys<'a>, String> {
        if let Some(k) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
            let expected: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
            return Err(format!(
                "unknown field `{k}`, expected one of {}",
                expected.join(", ")
            ));
        }
        Ok(Keys { table })
    }

    fn get<T>(
        &self,
        key: &str,
        expected: &str,
        take: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(v) => take(v).map(Some).ok_or_else(|| {
                format!(
                    "invalid {} for key `{key}`, expected {expected}",
                    describe(v)
                )
            }),
        }
    }

    /// A string.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, String> {
        self.get(key, "a string", |v| v.as_str().map(str::to_owned))
    }

    /// A boolean.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        self.get(key, "a boolean", Value::as_bool)
    }

    /// A whole number that fits `T` (an unsigned type).
    pub(crate) fn int<T: TryFrom<i64>>(&self, key: &str) -> Result<Option<T>, String> {
        let expected = format!("a whole number that fits {}", std::any::type_name::<T>());
        self.get(key, &expected, |v| {
            v.as_integer().and_then(|i| T::try_from(i).ok())
        })
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("type: string {s:?}"),
        Value::Integer(i) => {
            if *i < 0 {
                format!("value: integer `{i}`")
            } else {
                format!("type or value: integer `{i}`")
            }
        }
        Value::Float(f) => format!("type: float `{f}`"),
        Value::Boolean(b) => format!("type: boolean `{b}`"),
        Value::Datetime(d) => format!("type: datetime `{d}`"),
        Value::Array(_) => "type: array".into(),
        Value::Table(_) => "type: table".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn reads_typed_keys_and_names_what_is_wrong() {
        let t = keys("enabled = true\nendpoint = \"https://x\"\nconsent_version = 2\n");
        let k = Keys::new(&t, &["enabled", "endpoint", "consent_version", "other"]).unwrap();
        assert_eq!(k.bool("enabled"), Ok(Some(true)));
        assert_eq!(k.string("endpoint"), Ok(Some("https://x".into())));
        assert_eq!(k.int::<u32>("consent_version"), Ok(Some(2)));
        assert_eq!(k.string("other"), Ok(None));
        assert_eq!(
            k.string("enabled"),
            Err("invalid type: boolean `true` for key `enabled`, expected a string".into())
        );
        assert_eq!(
            k.bool("endpoint"),
            Err("invalid type: string \"https://x\" for key `endpoint`, expected a boolean".into())
        );
        let t = keys("consent_version = -1\nbig = 4294967296\n");
        let k = Keys::new(&t, &["consent_version", "big"]).unwrap();
        assert_eq!(
            k.int::<u32>("consent_version"),
            Err(
                "invalid value: integer `-1` for key `consent_version`, expected a whole number that fits u32"
                    .into()
            )
        );
        assert!(k.int::<u32>("big").is_err());
        assert_eq!(k.int::<u64>("big"), Ok(Some(4_294_967_296)));
        assert_eq!(
            Keys::new(&keys("enabeld = true"), &["enabled", "endpoint"]).err(),
            Some("unknown field `enabeld`, expected one of `enabled`, `endpoint`".into())
        );
    }
}
