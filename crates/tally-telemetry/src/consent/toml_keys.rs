//! Typed keys out of a parsed TOML table, for tally's own small files (the
//! consent file, the admin policy): an unknown key or a value of the wrong
//! type is an error that names the key, as a serde derive's would be.
//!
//! The files are read through a `toml::Table` and this, not a
//! `Deserialize` derive per file: each derive put a copy of toml's generic
//! struct deserializer into every host's binary (about 10 KB each, the embedding
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
            Some(v) => take(v)
                .map(Some)
                .ok_or_else(|| format!("`{key} = {}` is not {expected}", describe(v))),
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

/// The value as written in the file, for messages.
fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(_) => "an array".into(),
        Value::Table(_) => "a table".into(),
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
            Err("`enabled = true` is not a string".into())
        );
        assert_eq!(
            k.bool("endpoint"),
            Err("`endpoint = \"https://x\"` is not a boolean".into())
        );
        let t = keys("consent_version = -1\nbig = 4294967296\n");
        let k = Keys::new(&t, &["consent_version", "big"]).unwrap();
        assert_eq!(
            k.int::<u32>("consent_version"),
            Err("`consent_version = -1` is not a whole number that fits u32".into())
        );
        assert!(k.int::<u32>("big").is_err());
        assert_eq!(k.int::<u64>("big"), Ok(Some(4_294_967_296)));
        assert_eq!(
            Keys::new(&keys("enabeld = true"), &["enabled", "endpoint"]).err(),
            Some("unknown field `enabeld`, expected one of `enabled`, `endpoint`".into())
        );
    }
}
