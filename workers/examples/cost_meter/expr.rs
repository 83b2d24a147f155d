//! The subset of DynamoDB's UpdateExpression the meter applies to its copy of a table:
//! `SET` (`path = operand`, `operand + operand`, `operand - operand`, `if_not_exists(path,
//! operand)`, `list_append(operand, operand)`), `REMOVE path, ...`, `ADD path :value` (numbers and
//! sets), `DELETE path :value` (sets); paths of names or `#placeholders`, nested with `.name` and
//! `[n]`; values only as `:placeholders`. Anything else is an error, never a guess. Conditions are
//! not evaluated: whether a conditional write succeeded is moto's answer.

use super::Item;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Name(String),
    Value(String),
    Number(usize),
    Punct(char),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let word = |start: usize| -> usize {
        let mut end = start;
        while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
            end += 1;
        }
        end
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' || c == ':' {
            let end = word(i + 1);
            if end == i + 1 {
                return Err(format!("empty placeholder at {i} in {text:?}"));
            }
            let name: String = chars[i..end].iter().collect();
            tokens.push(if c == '#' {
                Token::Name(name)
            } else {
                Token::Value(name)
            });
            i = end;
        } else if c.is_ascii_digit() && tokens.last() == Some(&Token::Punct('[')) {
            let end = word(i);
            let n: String = chars[i..end].iter().collect();
            tokens.push(Token::Number(
                n.parse().map_err(|_| format!("bad list index {n}"))?,
            ));
            i = end;
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let end = word(i);
            tokens.push(Token::Ident(chars[i..end].iter().collect()));
            i = end;
        } else if "=,()[].+-".contains(c) {
            tokens.push(Token::Punct(c));
            i += 1;
        } else {
            return Err(format!("unsupported character {c:?} in {text:?}"));
        }
    }
    Ok(tokens)
}

#[derive(Debug, Clone)]
enum Step {
    Attr(String),
    Index(usize),
}

#[derive(Debug, Clone)]
enum Operand {
    Path(Vec<Step>),
    Value(Value),
    IfNotExists(Vec<Step>, Box<Operand>),
    ListAppend(Box<Operand>, Box<Operand>),
    Plus(Box<Operand>, Box<Operand>),
    Minus(Box<Operand>, Box<Operand>),
}

#[derive(Debug)]
enum Action {
    Set(Vec<Step>, Operand),
    Remove(Vec<Step>),
    Add(Vec<Step>, Value),
    Delete(Vec<Step>, Value),
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    names: &'a Map<String, Value>,
    values: &'a Map<String, Value>,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn error(&self, what: &str) -> String {
        format!(
            "UpdateExpression {:?}: {what} at token {}",
            self.text, self.at
        )
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Token::Punct(p)) if p == c => Ok(()),
            _ => Err(self.error(&format!("expected {c:?}"))),
        }
    }

    fn name(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Ident(name)) => Ok(name),
            Some(Token::Name(placeholder)) => self
                .names
                .get(&placeholder)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| self.error(&format!("undefined name {placeholder}"))),
            _ => Err(self.error("expected an attribute name")),
        }
    }

    fn path(&mut self) -> Result<Vec<Step>, String> {
        let mut steps = vec![Step::Attr(self.name()?)];
        loop {
            match self.peek() {
                Some(Token::Punct('.')) => {
                    self.at += 1;
                    steps.push(Step::Attr(self.name()?));
                }
                Some(Token::Punct('[')) => {
                    self.at += 1;
                    match self.next() {
                        Some(Token::Number(n)) => steps.push(Step::Index(n)),
                        _ => return Err(self.error("expected a list index")),
                    }
                    self.expect(']')?;
                }
                _ => return Ok(steps),
            }
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.next() {
            Some(Token::Value(placeholder)) => self
                .values
                .get(&placeholder)
                .cloned()
                .ok_or_else(|| self.error(&format!("undefined value {placeholder}"))),
            _ => Err(self.error("expected a :value")),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek().cloned() {
            Some(Token::Value(_)) => Ok(Operand::Value(self.value()?)),
            Some(Token::Ident(function))
                if self.tokens.get(self.at + 1) == Some(&Token::Punct('(')) =>
            {
                self.at += 2;
                let operand = match function.as_str() {
                    "if_not_exists" => {
                        let path = self.path()?;
                        self.expect(',')?;
                        Operand::IfNotExists(path, Box::new(self.operand()?))
                    }
                    "list_append" => {
                        let a = self.operand()?;
                        self.expect(',')?;
                        Operand::ListAppend(Box::new(a), Box::new(self.operand()?))
                    }
                    other => return Err(self.error(&format!("unsupported function {other}"))),
                };
                self.expect(')')?;
                Ok(operand)
            }
            _ => Ok(Operand::Path(self.path()?)),
        }
    }

    fn set_value(&mut self) -> Result<Operand, String> {
        let first = self.operand()?;
        match self.peek() {
            Some(Token::Punct('+')) => {
                self.at += 1;
                Ok(Operand::Plus(Box::new(first), Box::new(self.operand()?)))
            }
            Some(Token::Punct('-')) => {
                self.at += 1;
                Ok(Operand::Minus(Box::new(first), Box::new(self.operand()?)))
            }
            _ => Ok(first),
        }
    }

    fn actions(&mut self) -> Result<Vec<Action>, String> {
        let mut actions = Vec::new();
        while let Some(token) = self.next() {
            let Token::Ident(clause) = token else {
                return Err(self.error("expected SET, REMOVE, ADD or DELETE"));
            };
            loop {
                let action = match clause.to_ascii_uppercase().as_str() {
                    "SET" => {
                        let path = self.path()?;
                        self.expect('=')?;
                        Action::Set(path, self.set_value()?)
                    }
                    "REMOVE" => Action::Remove(self.path()?),
                    "ADD" => {
                        let path = self.path()?;
                        Action::Add(path, self.value()?)
                    }
                    "DELETE" => {
                        let path = self.path()?;
                        Action::Delete(path, self.value()?)
                    }
                    other => return Err(self.error(&format!("unknown clause {other}"))),
                };
                actions.push(action);
                if self.peek() == Some(&Token::Punct(',')) {
                    self.at += 1;
                } else {
                    break;
                }
            }
        }
        Ok(actions)
    }
}

fn get<'a>(item: &'a Item, path: &[Step]) -> Option<&'a Value> {
    let Step::Attr(first) = &path[0] else {
        return None;
    };
    let mut at = item.get(first)?;
    for step in &path[1..] {
        at = match step {
            Step::Attr(name) => at.get("M")?.get(name)?,
            Step::Index(i) => at.get("L")?.get(*i)?,
        };
    }
    Some(at)
}

fn parent_mut<'a>(item: &'a mut Item, path: &[Step]) -> Result<&'a mut Value, String> {
    let Step::Attr(first) = &path[0] else {
        return Err("a path must start with a name".into());
    };
    let mut at = item
        .get_mut(first)
        .ok_or_else(|| format!("{first} does not exist"))?;
    for step in &path[1..path.len() - 1] {
        at = match step {
            Step::Attr(name) => at
                .get_mut("M")
                .and_then(|m| m.get_mut(name))
                .ok_or_else(|| format!("no map element {name}"))?,
            Step::Index(i) => at
                .get_mut("L")
                .and_then(|l| l.get_mut(*i))
                .ok_or_else(|| format!("no list element {i}"))?,
        };
    }
    Ok(at)
}

fn put(item: &mut Item, path: &[Step], value: Value) -> Result<(), String> {
    if path.len() == 1 {
        let Step::Attr(name) = &path[0] else {
            return Err("a path must start with a name".into());
        };
        item.insert(name.clone(), value);
        return Ok(());
    }
    let parent = parent_mut(item, path)?;
    match path.last().unwrap() {
        Step::Attr(name) => {
            parent
                .get_mut("M")
                .and_then(|m| m.as_object_mut())
                .ok_or("not a map")?
                .insert(name.clone(), value);
        }
        Step::Index(i) => {
            let list = parent
                .get_mut("L")
                .and_then(|l| l.as_array_mut())
                .ok_or("not a list")?;
            if *i < list.len() {
                list[*i] = value;
            } else {
                list.push(value);
            }
        }
    }
    Ok(())
}

fn remove(item: &mut Item, path: &[Step]) -> Result<(), String> {
    if path.len() == 1 {
        if let Step::Attr(name) = &path[0] {
            item.remove(name);
        }
        return Ok(());
    }
    let Ok(parent) = parent_mut(item, path) else {
        return Ok(());
    };
    match path.last().unwrap() {
        Step::Attr(name) => {
            if let Some(map) = parent.get_mut("M").and_then(|m| m.as_object_mut()) {
                map.remove(name);
            }
        }
        Step::Index(i) => {
            if let Some(list) = parent.get_mut("L").and_then(|l| l.as_array_mut())
                && *i < list.len()
            {
                list.remove(*i);
            }
        }
    }
    Ok(())
}

fn number(value: &Value) -> Result<&str, String> {
    value
        .get("N")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("not a number: {value}"))
}

fn arithmetic(a: &Value, b: &Value, sign: i128) -> Result<Value, String> {
    let (a, b) = (number(a)?, number(b)?);
    let result = match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(x), Ok(y)) => (x + sign * y).to_string(),
        _ => {
            let x: f64 = a.parse().map_err(|_| format!("bad number {a}"))?;
            let y: f64 = b.parse().map_err(|_| format!("bad number {b}"))?;
            (x + sign as f64 * y).to_string()
        }
    };
    Ok(serde_json::json!({ "N": result }))
}

fn evaluate(item: &Item, operand: &Operand) -> Result<Value, String> {
    Ok(match operand {
        Operand::Value(v) => v.clone(),
        Operand::Path(path) => get(item, path)
            .cloned()
            .ok_or("a SET operand names a missing attribute")?,
        Operand::IfNotExists(path, default) => match get(item, path) {
            Some(v) => v.clone(),
            None => evaluate(item, default)?,
        },
        Operand::ListAppend(a, b) => {
            let (a, b) = (evaluate(item, a)?, evaluate(item, b)?);
            let mut list = a["L"]
                .as_array()
                .cloned()
                .ok_or("list_append of a non-list")?;
            list.extend(
                b["L"]
                    .as_array()
                    .cloned()
                    .ok_or("list_append of a non-list")?,
            );
            serde_json::json!({ "L": list })
        }
        Operand::Plus(a, b) => arithmetic(&evaluate(item, a)?, &evaluate(item, b)?, 1)?,
        Operand::Minus(a, b) => arithmetic(&evaluate(item, a)?, &evaluate(item, b)?, -1)?,
    })
}

fn set_kind(value: &Value) -> Option<(&str, &Vec<Value>)> {
    let object = value.as_object()?;
    let (kind, inner) = object.iter().next()?;
    matches!(kind.as_str(), "SS" | "NS" | "BS").then_some((kind.as_str(), inner.as_array()?))
}

/// The item after an UpdateItem with this expression (every operand read from `item` as it was
/// before the update, as DynamoDB does).
pub fn apply_update(
    item: &Item,
    expression: &str,
    names: &Map<String, Value>,
    values: &Map<String, Value>,
) -> Result<Item, String> {
    let mut parser = Parser {
        tokens: tokenize(expression)?,
        at: 0,
        names,
        values,
        text: expression,
    };
    let actions = parser.actions()?;
    let mut next = item.clone();
    for action in actions {
        match action {
            Action::Set(path, operand) => put(&mut next, &path, evaluate(item, &operand)?)?,
            Action::Remove(path) => remove(&mut next, &path)?,
            Action::Add(path, value) => {
                let updated = match (get(item, &path), set_kind(&value)) {
                    (None, _) => value,
                    (Some(old), None) => arithmetic(old, &value, 1)?,
                    (Some(old), Some((kind, add))) => {
                        let mut members =
                            set_kind(old).ok_or("ADD of a set to a non-set")?.1.clone();
                        for m in add {
                            if !members.contains(m) {
                                members.push(m.clone());
                            }
                        }
                        serde_json::json!({ kind: members })
                    }
                };
                put(&mut next, &path, updated)?;
            }
            Action::Delete(path, value) => {
                let (kind, gone) = set_kind(&value).ok_or("DELETE of a non-set")?;
                if let Some(old) = get(item, &path) {
                    let members: Vec<Value> = set_kind(old)
                        .ok_or("DELETE from a non-set")?
                        .1
                        .iter()
                        .filter(|m| !gone.contains(m))
                        .cloned()
                        .collect();
                    if members.is_empty() {
                        remove(&mut next, &path)?;
                    } else {
                        put(&mut next, &path, serde_json::json!({ kind: members }))?;
                    }
                }
            }
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn set_remove_add_with_placeholders() {
        let item: Item = super::super::dynamo::to_item(&json!({
            "id": {"S": "a"}, "revision": {"N": "3"}, "gone": {"S": "x"},
            "m": {"M": {"inner": {"N": "1"}}}
        }))
        .unwrap();
        let names = map(json!({"#r": "revision", "#s": "status"}));
        let values = map(json!({":one": {"N": "1"}, ":s": {"S": "RUNNING"}, ":n": {"N": "7"}}));
        let next = apply_update(
            &item,
            "SET #r = #r + :one, #s = :s, seen = if_not_exists(seen, :n), m.inner = :n REMOVE gone ADD counter :one",
            &names,
            &values,
        )
        .unwrap();
        assert_eq!(next["revision"], json!({"N": "4"}));
        assert_eq!(next["status"], json!({"S": "RUNNING"}));
        assert_eq!(next["seen"], json!({"N": "7"}));
        assert_eq!(next["m"], json!({"M": {"inner": {"N": "7"}}}));
        assert_eq!(next["counter"], json!({"N": "1"}));
        assert!(!next.contains_key("gone"));
    }

    #[test]
    fn unknown_syntax_is_an_error() {
        let item = Item::new();
        let none = Map::new();
        assert!(apply_update(&item, "SET a = size(b)", &none, &none).is_err());
        assert!(apply_update(&item, "SET a = :undefined", &none, &none).is_err());
        assert!(apply_update(&item, "FROB a", &none, &none).is_err());
    }
}
