//! Loading schemas: the built-in ones compiled into the binary from `engine/schemas/`,
//! and the user's from a directory at start-up.
//!
//! Every `*.yml`/`*.yaml` file under a directory (recursively) holds one schema. A user
//! schema may not reuse a built-in log type's name: overriding `AWS.CloudTrail` by
//! accident would silently change what every rule sees.

use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

use super::format::LogSchema;

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/schemas");

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read schema {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid schema {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("log type {name} is defined twice: {first} and {second}")]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// A schema and the file it came from.
#[derive(Clone, Debug)]
pub struct SchemaSource {
    pub path: PathBuf,
    pub schema: LogSchema,
}

fn parse(path: &Path, text: &str) -> Result<SchemaSource, SchemaError> {
    let schema: LogSchema = serde_yaml_ng::from_str(text).map_err(|e| SchemaError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if schema.schema.trim().is_empty() {
        return Err(SchemaError::Invalid {
            path: path.to_owned(),
            message: "schema: the log type name is empty".into(),
        });
    }
    Ok(SchemaSource {
        path: path.to_owned(),
        schema,
    })
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

/// The schemas built into the binary.
pub fn builtin_schemas() -> Result<Vec<SchemaSource>, SchemaError> {
    let mut files = Vec::new();
    collect_builtin(&BUILTIN, &mut files);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
        .into_iter()
        .map(|(path, text)| parse(&Path::new("builtin").join(&path), text))
        .collect()
}

fn collect_builtin<'a>(dir: &'a Dir<'a>, out: &mut Vec<(PathBuf, &'a str)>) {
    for file in dir.files() {
        if is_yaml(file.path()) {
            if let Some(text) = file.contents_utf8() {
                out.push((file.path().to_owned(), text));
            }
        }
    }
    for sub in dir.dirs() {
        collect_builtin(sub, out);
    }
}

/// Every schema file under `dir`, in path order.
pub fn load_schema_dir(dir: &Path) -> Result<Vec<SchemaSource>, SchemaError> {
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Read {
                path: path.clone(),
                source,
            })?;
            parse(path, &text)
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SchemaError> {
    let read_error = |source| SchemaError::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_yaml(&path) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_all_parse() {
        let schemas = builtin_schemas().expect("built-in schemas are valid");
        assert!(schemas
            .iter()
            .any(|s| s.schema.schema == "Osquery.Differential"));
    }

    #[test]
    fn a_bad_user_schema_names_file_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("x.yml"),
            "schema: Custom.X\nfields:\n  - { name: a, type: string, indicatorz: [ip] }\n",
        )
        .expect("write");
        let err = load_schema_dir(dir.path()).expect_err("typo").to_string();
        assert!(err.contains("x.yml") && err.contains("indicatorz"), "{err}");
    }

    #[test]
    fn schemas_are_found_recursively() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("nested")).expect("mkdir");
        std::fs::write(
            dir.path().join("nested/a.yaml"),
            "schema: Custom.A\nfields: [{ name: a, type: string }]\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("README.md"), "not a schema").expect("write");
        let found = load_schema_dir(dir.path()).expect("loads");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].schema.schema, "Custom.A");
    }
}
