//! Item sizes as DynamoDB bills them (the rules in docs/cost.md), on items in the wire's JSON.

use super::Item;
use serde_json::Value;

/// Bytes of a DynamoDB number as stored: ⌈significant digits / 2⌉ + 1, +1 if negative.
pub fn number_size(text: &str) -> u64 {
    let text = text.trim();
    let negative = text.starts_with('-');
    let mantissa = text
        .trim_start_matches(['-', '+'])
        .split(['e', 'E'])
        .next()
        .unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1) as u64;
    significant.div_ceil(2) + 1 + u64::from(negative)
}

pub fn value_size(value: &Value) -> Result<u64, String> {
    let object = value
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| format!("not an attribute value: {value}"))?;
    let (kind, inner) = object.iter().next().unwrap();
    let text = |v: &Value| v.as_str().map(str::len).unwrap_or(0) as u64;
    let binary = |v: &Value| -> Result<u64, String> {
        super::super::http::base64_decode(v.as_str().unwrap_or_default()).map(|b| b.len() as u64)
    };
    Ok(match kind.as_str() {
        "S" => text(inner),
        "N" => number_size(inner.as_str().unwrap_or("0")),
        "B" => binary(inner)?,
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().into_iter().flatten().map(text).sum(),
        "NS" => inner
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| number_size(n.as_str().unwrap_or("0")))
            .sum(),
        "BS" => {
            let mut sum = 0;
            for b in inner.as_array().into_iter().flatten() {
                sum += binary(b)?;
            }
            sum
        }
        "L" => {
            let mut sum = 3;
            for element in inner.as_array().into_iter().flatten() {
                sum += value_size(element)? + 1;
            }
            sum
        }
        "M" => {
            let mut sum = 3;
            for (name, element) in inner.as_object().into_iter().flatten() {
                sum += name.len() as u64 + value_size(element)? + 1;
            }
            sum
        }
        other => return Err(format!("unknown attribute type {other}")),
    })
}

pub fn item_size(item: &Item) -> Result<u64, String> {
    let mut sum = 0;
    for (name, value) in item {
        sum += name.len() as u64 + value_size(value)?;
    }
    Ok(sum)
}

pub fn units(bytes: u64, unit: u64) -> f64 {
    bytes.div_ceil(unit).max(1) as f64
}

pub fn to_item(value: &Value) -> Result<Item, String> {
    Ok(value
        .as_object()
        .ok_or_else(|| format!("not an item: {value}"))?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}
