//! Where an empirical distribution's samples come from, when a scenario names a trace file
//! instead of listing them (read by [`crate::input::traces`]).

use serde::{Deserialize, Deserializer, Serialize, de};
use std::fmt;

/// Where an empirical distribution's samples come from, as written in a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleFile {
    /// Relative to the scenario file's directory.
    pub path: String,
    /// The CSV column (a header name, or a 1-based number); needed when there are several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Unit of bare numbers (`ns`, `us`, `ms`, `s`, `min`, `h`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// `file = "x.csv"` or `file = { path = "x.csv", column = "...", unit = "ms" }`.
impl<'de> Deserialize<'de> for SampleFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            path: String,
            #[serde(default)]
            column: Option<String>,
            #[serde(default)]
            unit: Option<String>,
        }
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = SampleFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a path such as \"traces/search.csv\" or a table \
                     { path = \"traces/search.csv\", column = \"latency_ms\", unit = \"ms\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SampleFile, E> {
                Ok(SampleFile {
                    path: v.to_string(),
                    column: None,
                    unit: None,
                })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<SampleFile, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(SampleFile {
                    path: t.path,
                    column: t.column,
                    unit: t.unit,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
