//! The one UUID shape tally writes and accepts: 36 characters, hex in the
//! 8-4-4-4-12 hyphenated form. A host's build does not link the `uuid`
//! crate for this (the embedding weight budget: it would be one more crate for
//! sixteen bytes and a formatter); the ingest server, which turns ids from
//! the network into stored bytes, uses that crate, and a property test here
//! checks both agree on arbitrary input.

use std::fmt;

/// A UUID as sixteen bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Uuid([u8; 16]);

/// Where the hyphens sit in the 36-character form.
const HYPHENS: [usize; 4] = [8, 13, 18, 23];

impl Uuid {
    /// All zeros: the placeholder id of a batch that is only shown.
    pub const NIL: Uuid = Uuid([0; 16]);

    /// Marks random bytes as a version-4, RFC 4122 variant UUID.
    pub fn v4_from_random(mut bytes: [u8; 16]) -> Uuid {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid(bytes)
    }

    /// Parses the hyphenated form (either case); anything else is `None`.
    pub fn parse(s: &str) -> Option<Uuid> {
        let s = s.as_bytes();
        if s.len() != 36 || HYPHENS.iter().any(|&i| s[i] != b'-') {
            return None;
        }
        let mut digits = s
            .iter()
            .enumerate()
            .filter(|(i, _)| !HYPHENS.contains(i))
            .map(|(_, &c)| (c as char).to_digit(16));
        let mut out = [0u8; 16];
        for byte in &mut out {
            let hi = digits.next()??;
            let lo = digits.next()??;
            *byte = (hi * 16 + lo) as u8;
        }
        Some(Uuid(out))
    }

    /// The sixteen bytes.
    #[cfg(test)]
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The bytes as one big-endian number.
    #[cfg(test)]
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// The 32 hex digits without hyphens (for file names).
    pub fn simple(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(32);
        for b in self.0 {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

/// The hyphenated lowercase form.
impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_and_normalizes_case() {
        let text = "67E55044-10B1-426F-9247-BB680E5FE0C8";
        let id = Uuid::parse(text).unwrap();
        assert_eq!(id.to_string(), text.to_lowercase());
        assert_eq!(id.simple(), text.to_lowercase().replace('-', ""));
        assert_eq!(Uuid::parse(&id.to_string()), Some(id));
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "67e5504410b1426f9247bb680e5fe0c8",
            "{67e55044-10b1-426f-9247-bb680e5fe0c8}",
            "67e55044-10b1-426f-9247-bb680e5fe0c",
            "67e55044-10b1-426f-9247-bb680e5fe0c8 ",
            "67e55044+10b1-426f-9247-bb680e5fe0c8",
            "67e5504g-10b1-426f-9247-bb680e5fe0c8",
            "67e55044-10b1-426f-9247-bb680e5fé0c",
        ] {
            assert_eq!(Uuid::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn v4_sets_version_and_variant() {
        let id = Uuid::v4_from_random([0xff; 16]);
        assert_eq!(id.to_string(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = Uuid::v4_from_random([0; 16]);
        assert_eq!(id.to_string(), "00000000-0000-4000-8000-000000000000");
    }

    proptest! {
        /// Agrees with the `uuid` crate (which the server uses) on what a
        /// 36-character id is and which bytes it holds.
        #[test]
        fn agrees_with_the_uuid_crate(
            s in "[0-9a-fA-F-]{36}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|.{30,40}",
            bytes in any::<[u8; 16]>(),
        ) {
            let theirs = uuid::Uuid::try_parse(&s).ok().filter(|_| s.len() == 36);
            let ours = Uuid::parse(&s);
            prop_assert_eq!(ours.map(|u| *u.as_bytes()), theirs.map(|u| *u.as_bytes()));
            let ours = Uuid::v4_from_random(bytes);
            let theirs = uuid::Builder::from_random_bytes(bytes).into_uuid();
            prop_assert_eq!(ours.to_string(), theirs.hyphenated().to_string());
            prop_assert_eq!(ours.simple(), theirs.simple().to_string());
            prop_assert_eq!(ours.as_u128(), theirs.as_u128());
        }
    }
}
