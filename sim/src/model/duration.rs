//! Durations in scenario files: strings like `"250ms"`, `"1.5s"`, `"2m"` or `"1h 30m"`.
//!
//! A thin wrapper over humantime that replaces its terse errors ("expected number at 0") with one
//! that shows the accepted forms, and refuses negative durations with a clear reason.

use serde::{Deserialize, Deserializer, Serializer, de};
use std::time::Duration;

pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!(
            "duration \"{text}\" is negative; durations must be ≥ 0"
        ));
    }
    humantime::parse_duration(trimmed).map_err(|e| {
        format!(
            "cannot read \"{text}\" as a duration ({e}); write a number and a unit, \
             like \"250ms\", \"1.5s\", \"2m\" or \"0s\""
        )
    })
}

pub fn format(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

/// `#[serde(with = "crate::model::duration")]` for a `Duration` field.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(d))
}

pub(crate) struct DurationVisitor;

impl de::Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration string such as \"250ms\" or \"1.5s\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "the number {v} has no unit; write a duration string such as \"{v}ms\" or \"{v}s\""
        )))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        self.visit_i64(v as i64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "the number {v} has no unit; write a duration string such as \"{v}s\""
        )))
    }
}

/// A list of durations (`["120ms", "1.5s"]`).
pub mod list {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Item(#[serde(with = "super")] Duration);
        let items = Vec::<Item>::deserialize(d)?;
        Ok(items.into_iter().map(|i| i.0).collect())
    }

    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(super::format))
    }
}

/// An optional duration.
pub mod option {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::deserialize(d).map(Some)
    }

    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_common_forms() {
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn refuses_negative_and_unitless() {
        assert!(parse("-5s").unwrap_err().contains("negative"));
        let err = parse("fast").unwrap_err();
        assert!(err.contains("\"fast\"") && err.contains("250ms"), "{err}");
    }
}
