//! A table's keys and indexes, as its CreateTable request defined them.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub keys: Vec<String>,
    pub projection: Projection,
}

/// A table as its CreateTable request defined it.
#[derive(Debug, Clone)]
pub struct Schema {
    pub table: String,
    pub keys: Vec<String>,
    pub indexes: Vec<Index>,
}

impl Schema {
    /// From a CreateTable request body.
    pub fn from_create_table(body: &Value) -> Result<Schema, String> {
        let keys = |schema: &Value| -> Result<Vec<String>, String> {
            let mut elements: Vec<(String, String)> = schema
                .as_array()
                .ok_or("KeySchema is not a list")?
                .iter()
                .map(|k| {
                    (
                        k["KeyType"].as_str().unwrap_or_default().to_string(),
                        k["AttributeName"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            // HASH first, then RANGE.
            elements.sort_by_key(|(kind, _)| kind != "HASH");
            Ok(elements.into_iter().map(|(_, name)| name).collect())
        };
        let table = body["TableName"]
            .as_str()
            .ok_or("CreateTable without TableName")?
            .to_string();
        let mut indexes = Vec::new();
        for gsi in body["GlobalSecondaryIndexes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let projection = match gsi["Projection"]["ProjectionType"].as_str() {
                Some("ALL") | None => Projection::All,
                Some("KEYS_ONLY") => Projection::KeysOnly,
                Some("INCLUDE") => Projection::Include(
                    gsi["Projection"]["NonKeyAttributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect(),
                ),
                Some(other) => return Err(format!("unknown ProjectionType {other}")),
            };
            indexes.push(Index {
                name: gsi["IndexName"].as_str().unwrap_or_default().to_string(),
                keys: keys(&gsi["KeySchema"])?,
                projection,
            });
        }
        if body
            .get("LocalSecondaryIndexes")
            .is_some_and(|l| !l.is_null())
        {
            return Err("local secondary indexes are not modelled".into());
        }
        Ok(Schema {
            table,
            keys: keys(&body["KeySchema"])?,
            indexes,
        })
    }

    pub fn describe(&self) -> String {
        let indexes: Vec<String> = self
            .indexes
            .iter()
            .map(|i| {
                let projection = match &i.projection {
                    Projection::All => "ALL".to_string(),
                    Projection::KeysOnly => "KEYS_ONLY".to_string(),
                    Projection::Include(a) => format!("INCLUDE {}", a.join(",")),
                };
                format!("{} ({}; {projection})", i.name, i.keys.join(", "))
            })
            .collect();
        format!(
            "table {} (key {}), GSIs: {}",
            self.table,
            self.keys.join(", "),
            if indexes.is_empty() {
                "none".to_string()
            } else {
                indexes.join("; ")
            }
        )
    }
}
