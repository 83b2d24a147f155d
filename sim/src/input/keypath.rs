//! Key paths into a TOML tree, as errors name them and sweeps take them:
//! `tools.search.latency.sigma`, `plan.calls[2].after[0]`.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[2].c` → Key(a), Key(b), Index(2), Key(c). A malformed path (an empty name, an
/// unclosed or non-numeric index) is an error that still carries the segments read before it.
pub fn parse(path: &str) -> Result<Vec<Segment<'_>>, Vec<Segment<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if name.is_empty() {
            return Err(out);
        }
        out.push(Segment::Key(name));
        while !rest.is_empty() {
            let index = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .and_then(|(n, after)| Some((n.parse().ok()?, after)));
            let Some((index, after)) = index else {
                return Err(out);
            };
            out.push(Segment::Index(index));
            rest = after;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::{Index, Key};

    #[test]
    fn parses_keys_and_indices_and_keeps_the_good_prefix_of_a_bad_path() {
        assert_eq!(
            parse("plan.calls[2].after[0]"),
            Ok(vec![
                Key("plan"),
                Key("calls"),
                Index(2),
                Key("after"),
                Index(0)
            ])
        );
        assert_eq!(
            parse("plan.rounds[0][1]"),
            Ok(vec![Key("plan"), Key("rounds"), Index(0), Index(1)])
        );
        assert_eq!(parse("tools.a[x].b"), Err(vec![Key("tools"), Key("a")]));
        assert_eq!(parse("tools..b"), Err(vec![Key("tools")]));
        assert_eq!(parse("a[1"), Err(vec![Key("a")]));
        assert_eq!(parse(""), Err(vec![]));
    }
}
