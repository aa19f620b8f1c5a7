//! The JSONPath subset data models use: `$.a.b`, `$.a[*].b`, `$.a[0]`, `$..b`, `$.*`,
//! `$['a b']`, and a bare `a.b` (relative to the event, as jsonpath-ng reads it).
//!
//! Field names match as the event view matches keys: exactly first, then ignoring case.
//! Evaluation yields every match in document order; `udm()` wants exactly one.

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// `.name` or `['name']`.
    Field(String),
    /// `.*`: every value of an object.
    AnyField,
    /// `[n]`.
    Index(usize),
    /// `[*]`: every element of an array.
    AnyIndex,
    /// `..name`: the field at any depth, this level included.
    Descendant(String),
}

/// A parsed JSONPath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

impl JsonPath {
    /// Parses `text`; the error says what is not supported.
    pub(crate) fn parse(text: &str) -> Result<JsonPath, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("empty JSONPath".to_string());
        }
        // A bare field path: `a.b` means `$.a.b`.
        let owned = match trimmed.strip_prefix('$') {
            Some(rest) => rest.to_string(),
            None if trimmed.starts_with('[') => trimmed.to_string(),
            None => format!(".{trimmed}"),
        };
        let mut rest = owned.as_str();
        let unsupported = |what: &str| format!("JSONPath `{text}`: {what} is not supported");
        let mut segments = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("..") {
                let (name, tail) = take_name(after);
                if name.is_empty() {
                    return Err(unsupported("`..` without a field name"));
                }
                segments.push(Segment::Descendant(name.to_string()));
                rest = tail;
            } else if let Some(after) = rest.strip_prefix('.') {
                if let Some(tail) = after.strip_prefix('*') {
                    segments.push(Segment::AnyField);
                    rest = tail;
                    continue;
                }
                let (name, tail) = take_name(after);
                if name.is_empty() {
                    return Err(unsupported("an empty field name"));
                }
                segments.push(Segment::Field(name.to_string()));
                rest = tail;
            } else if let Some(after) = rest.strip_prefix('[') {
                let Some(end) = after.find(']') else {
                    return Err(format!("JSONPath `{text}`: unclosed `[`"));
                };
                let inner = after[..end].trim();
                rest = &after[end + 1..];
                if inner == "*" {
                    segments.push(Segment::AnyIndex);
                } else if let Ok(index) = inner.parse::<usize>() {
                    segments.push(Segment::Index(index));
                } else if let Some(name) = quoted(inner) {
                    segments.push(Segment::Field(name.to_string()));
                } else {
                    return Err(unsupported(&format!("`[{inner}]`")));
                }
            } else {
                return Err(unsupported(&format!("`{rest}`")));
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            segments,
        })
    }

    /// Every value the path leads to in `root`, in document order, each with the steps
    /// that lead to it.
    pub(crate) fn find<'a>(&self, root: &'a Map<String, Value>) -> Vec<(Vec<Step>, &'a Value)> {
        let mut current: Vec<(Vec<Step>, Node<'a>)> = vec![(Vec::new(), Node::Object(root))];
        for segment in &self.segments {
            let mut next = Vec::new();
            for (path, node) in current {
                let at = |step: Step| {
                    let mut path = path.clone();
                    path.push(step);
                    path
                };
                match segment {
                    Segment::Field(name) => {
                        if let Some((key, found)) = node.object().and_then(|o| field(o, name)) {
                            next.push((at(Step::Key(key.clone())), Node::Value(found)));
                        }
                    }
                    Segment::AnyField => {
                        for (key, found) in node.object().into_iter().flatten() {
                            next.push((at(Step::Key(key.clone())), Node::Value(found)));
                        }
                    }
                    Segment::Index(index) => {
                        if let Some(found) = node.array().and_then(|a| a.get(*index)) {
                            next.push((at(Step::Index(*index)), Node::Value(found)));
                        }
                    }
                    Segment::AnyIndex => {
                        for (index, found) in node.array().into_iter().flatten().enumerate() {
                            next.push((at(Step::Index(index)), Node::Value(found)));
                        }
                    }
                    Segment::Descendant(name) => descendants(node, path, name, &mut next),
                }
            }
            current = next;
        }
        current
            .into_iter()
            .filter_map(|(path, node)| match node {
                Node::Value(value) => Some((path, value)),
                Node::Object(_) => None,
            })
            .collect()
    }
}

/// A step from an object to a nested value (shared with the event view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// Where evaluation stands: the root object, or a value below it.
#[derive(Clone, Copy)]
enum Node<'a> {
    Object(&'a Map<String, Value>),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn object(self) -> Option<&'a Map<String, Value>> {
        match self {
            Node::Object(object) => Some(object),
            Node::Value(value) => value.as_object(),
        }
    }

    fn array(self) -> Option<&'a Vec<Value>> {
        match self {
            Node::Object(_) => None,
            Node::Value(value) => value.as_array(),
        }
    }
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits a field name (up to the next `.` or `[`) off the front of `text`.
fn take_name(text: &str) -> (&str, &str) {
    let end = text.find(['.', '[']).unwrap_or(text.len());
    (&text[..end], &text[end..])
}

fn quoted(text: &str) -> Option<&str> {
    ['\'', '"'].into_iter().find_map(|quote| {
        text.strip_prefix(quote)
            .and_then(|inner| inner.strip_suffix(quote))
    })
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    object.get_key_value(name).or_else(|| {
        let lower = name.to_lowercase();
        object.iter().find(|(key, _)| key.to_lowercase() == lower)
    })
}

/// `..name` at and below `node`: the field of this object, then of every nested value.
fn descendants<'a>(
    node: Node<'a>,
    path: Vec<Step>,
    name: &str,
    out: &mut Vec<(Vec<Step>, Node<'a>)>,
) {
    if let Some(object) = node.object() {
        if let Some((key, found)) = field(object, name) {
            let mut at = path.clone();
            at.push(Step::Key(key.clone()));
            out.push((at, Node::Value(found)));
        }
        for (key, nested) in object {
            let mut at = path.clone();
            at.push(Step::Key(key.clone()));
            descendants(Node::Value(nested), at, name, out);
        }
    } else if let Some(items) = node.array() {
        for (index, item) in items.iter().enumerate() {
            let mut at = path.clone();
            at.push(Step::Index(index));
            descendants(Node::Value(item), at, name, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(path: &str, value: &Value) -> Vec<Value> {
        JsonPath::parse(path)
            .unwrap_or_else(|err| panic!("{err}"))
            .find(value.as_object().expect("object"))
            .into_iter()
            .map(|(_, value)| value.clone())
            .collect()
    }

    #[test]
    fn fields_indices_wildcards_and_descendants() {
        let event = json!({
            "userIdentity": {"type": "IAMUser", "sessionContext": {"sessionIssuer": {"userName": "r"}}},
            "items": [{"b": 1}, {"b": 2}, {"c": 3}],
            "odd key": "x"
        });
        assert_eq!(find("$.userIdentity.type", &event), [json!("IAMUser")]);
        assert_eq!(find("userIdentity.type", &event), [json!("IAMUser")]);
        assert_eq!(find("$.useridentity.TYPE", &event), [json!("IAMUser")]);
        assert_eq!(find("$.items[*].b", &event), [json!(1), json!(2)]);
        assert_eq!(find("$.items[2].c", &event), [json!(3)]);
        assert_eq!(find("$..userName", &event), [json!("r")]);
        assert_eq!(find("$..b", &event), [json!(1), json!(2)]);
        assert_eq!(find("$['odd key']", &event), [json!("x")]);
        assert!(find("$.missing.b", &event).is_empty());
        assert_eq!(find("$.userIdentity.*", &event).len(), 2);
        let path = JsonPath::parse("$.items[1].b").expect("parse");
        let found = path.find(event.as_object().expect("object"));
        assert_eq!(
            found[0].0,
            [
                Step::Key("items".into()),
                Step::Index(1),
                Step::Key("b".into())
            ]
        );
    }

    #[test]
    fn unsupported_syntax_is_an_error() {
        assert!(JsonPath::parse("$.a[?(@.b == 1)]").is_err());
        assert!(JsonPath::parse("$.a[").is_err());
        assert!(JsonPath::parse("").is_err());
    }
}
