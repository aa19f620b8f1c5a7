//! Why a detection directory, or one detection in it, could not be loaded.
//!
//! Two levels: a [`RuleLoadError`] is fatal for the whole directory (it cannot be read,
//! two files declare the same id, the interpreter cannot be prepared); a [`LoadFailure`]
//! is one file that does not load (bad YAML, a syntax error, a failed import, no
//! `rule()`), reported while every other detection loads and runs. Both name the file,
//! so the message alone is enough to fix the problem.

use std::fmt;
use std::path::PathBuf;

/// One analysis file that could not become part of a rule set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadFailure {
    /// The `RuleID` (`PolicyID`, `GlobalID`, `DataModelID`), or the YAML file's stem when
    /// the YAML did not parse far enough to tell.
    pub rule_id: String,
    /// The file at fault: the Python file for import problems, else the YAML file.
    pub file: PathBuf,
    /// 1-based line in `file`, when known (a `SyntaxError`, a YAML error, a traceback).
    pub line: Option<u32>,
    /// The exception class (`SyntaxError`, `ModuleNotFoundError`, …) or `YAMLError`,
    /// `SchemaError`, `FileNotFoundError`, `NotSupported`.
    pub error_type: String,
    pub message: String,
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(
            f,
            ": {}: {}: {}",
            self.rule_id, self.error_type, self.message
        )
    }
}

/// A detection directory that cannot become a rule set at all.
#[derive(Debug, thiserror::Error)]
pub enum RuleLoadError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Two files declare the same `RuleID`/`PolicyID`, `GlobalID` or `DataModelID`.
    #[error("{kind} `{id}` is declared twice: in {first} and in {second}")]
    DuplicateId {
        kind: &'static str,
        id: String,
        first: PathBuf,
        second: PathBuf,
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
