//! Why a detection directory could not be loaded.
//!
//! Loading fails fast: a rule set with one broken file is not started, because a
//! silently missing detection is worse than a worker that refuses to start. Every
//! variant names the file (and, where there is one, the rule or global) so the
//! message alone is enough to fix the problem.

use std::path::PathBuf;

/// A detection directory, or one file in it, that cannot become part of a rule set.
#[derive(Debug, thiserror::Error)]
pub enum RuleLoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The YAML does not parse or does not fit the schema of its `AnalysisType`
    /// (an unknown key, a missing required key, a value of the wrong type).
    #[error("{file}: {source}")]
    Yaml {
        file: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },

    /// The YAML parses but a value is not allowed (severity, id, log types, …).
    #[error("{file}: {reason}")]
    Invalid { file: PathBuf, reason: String },

    /// Two files declare the same `RuleID` or `GlobalID`.
    #[error("{kind} `{id}` is declared twice: in {first} and in {second}")]
    DuplicateId {
        kind: &'static str,
        id: String,
        first: PathBuf,
        second: PathBuf,
    },

    /// The `Filename` a YAML file points to does not exist or cannot be read.
    #[error("{file}: cannot read its Filename {python}: {source}")]
    Python {
        file: PathBuf,
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Importing the module raised (a syntax error, a failed import, an exception at
    /// module level), or the module lacks a callable `rule`.
    #[error("{python}: cannot import {what}: {reason}")]
    Import {
        python: PathBuf,
        what: String,
        reason: String,
    },

    /// `corvid rules test` could not write its report.
    #[error("cannot write the rule test report: {source}")]
    Report {
        #[source]
        source: std::io::Error,
    },

    /// The embedded interpreter could not set up Corvid's support code; not caused by a
    /// detection, but reported the same way so start-up fails with a message.
    #[error("cannot prepare the Python rule runtime: {0}")]
    Runtime(String),
}
