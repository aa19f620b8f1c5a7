//! The YAML half of a detection: Panther's analysis-file schema and the walk that finds it.
//!
//! A detection directory holds YAML files (`.yml`/`.yaml`, found recursively; hidden
//! entries such as `.git` are skipped), each naming its `AnalysisType`:
//!
//! * `rule` — a streaming detection: [`RuleSpec`] beside the Python file in `Filename`;
//! * `global` — a helper module that rules import by its `GlobalID`;
//! * any other Panther analysis type (policies, data models, packs, scheduled rules, …)
//!   is recognised and skipped: Corvid does not run it (yet).
//!
//! The schema is strict, like `panther_analysis_tool`'s: an unknown key is an error
//! naming the key and the file, because a misspelt `DedupPeriodMinutes` that silently
//! falls back to the default is a detection that behaves differently from what its
//! author reads. Keys Panther defines but Corvid does not act on are accepted; those
//! that would change what alerts are raised are reported once with a warning.
//!
//! Defaults, as Panther's backend applies them: `DedupPeriodMinutes` 60 (0 also means
//! 60), `Threshold` 1 (0 also means 1, "at least one event"), `Severity` stored
//! upper-case. A rule's version is the first 16 hex digits of the SHA-256 of its YAML
//! followed by its Python source, so any edit of either yields a new version.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use super::RuleLoadError;

/// Panther's five severities; parsed case-insensitively, shown upper-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The severity a case-insensitive name stands for, if any.
    pub(crate) fn parse(name: &str) -> Option<Severity> {
        match name.to_ascii_uppercase().as_str() {
            "INFO" => Some(Severity::Info),
            "LOW" => Some(Severity::Low),
            "MEDIUM" => Some(Severity::Medium),
            "HIGH" => Some(Severity::High),
            "CRITICAL" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Only `AnalysisType`, read first to choose the schema for the whole file.
#[derive(Deserialize)]
struct AnalysisKind {
    #[serde(rename = "AnalysisType")]
    analysis_type: Option<String>,
}

/// `AnalysisType: rule`, key for key as `panther_analysis_tool` accepts it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RuleSpec {
    #[serde(rename = "AnalysisType")]
    _analysis_type: String,
    #[serde(rename = "RuleID")]
    rule_id: String,
    filename: Option<String>,
    enabled: bool,
    #[serde(default)]
    log_types: Vec<String>,
    severity: String,
    dedup_period_minutes: Option<u64>,
    threshold: Option<u64>,
    display_name: Option<String>,
    description: Option<String>,
    reference: Option<String>,
    runbook: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "report_map")]
    reports: BTreeMap<String, Vec<String>>,
    #[serde(default, rename = "SummaryAttributes")]
    _summary_attributes: Vec<String>,
    #[serde(default, rename = "OutputIds")]
    output_ids: Vec<String>,
    #[serde(default)]
    tests: Vec<TestSpec>,

    // Known Panther keys Corvid accepts without acting on them. The first group changes
    // which alerts a rule raises, so its presence is warned about (see `unhonoured_keys`).
    detection: Option<IgnoredAny>,
    inline_filters: Option<IgnoredAny>,
    create_alert: Option<IgnoredAny>,
    alert_title: Option<IgnoredAny>,
    alert_context: Option<IgnoredAny>,
    group_by: Option<IgnoredAny>,
    dynamic_severities: Option<IgnoredAny>,
    #[serde(rename = "Suppressions")]
    _suppressions: Option<IgnoredAny>,
    #[serde(rename = "Status")]
    _status: Option<IgnoredAny>,
    #[serde(rename = "CreatedBy")]
    _created_by: Option<IgnoredAny>,
    #[serde(rename = "OnlyUseBaseRiskScore")]
    _only_use_base_risk_score: Option<IgnoredAny>,
    #[serde(rename = "BaseVersion")]
    _base_version: Option<IgnoredAny>,
}

impl RuleSpec {
    /// Keys whose Panther meaning Corvid does not implement and which would change alerting.
    fn unhonoured_keys(&self) -> Vec<&'static str> {
        [
            ("Detection", self.detection.is_some()),
            ("InlineFilters", self.inline_filters.is_some()),
            ("CreateAlert", self.create_alert.is_some()),
            ("AlertTitle", self.alert_title.is_some()),
            ("AlertContext", self.alert_context.is_some()),
            ("GroupBy", self.group_by.is_some()),
            ("DynamicSeverities", self.dynamic_severities.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .collect()
    }
}

/// One entry of a rule's `Tests`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct TestSpec {
    pub(crate) name: String,
    pub(crate) expected_result: bool,
    /// The event; a YAML mapping becomes a JSON object (non-string keys are rejected).
    #[serde(default)]
    pub(crate) log: serde_json::Value,
    #[serde(default)]
    pub(crate) mocks: Vec<MockSpec>,
    // Legacy and policy keys PAT still accepts in a test.
    #[serde(rename = "LogType")]
    _log_type: Option<IgnoredAny>,
    #[serde(rename = "Resource")]
    _resource: Option<IgnoredAny>,
    #[serde(rename = "ResourceType")]
    _resource_type: Option<IgnoredAny>,
}

/// `Mocks: [{objectName, returnValue}]`: a module-level name replaced for one test.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MockSpec {
    #[serde(rename = "objectName")]
    pub(crate) object_name: String,
    #[serde(rename = "returnValue", default)]
    pub(crate) return_value: serde_json::Value,
}

/// `AnalysisType: global`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct GlobalSpec {
    #[serde(rename = "AnalysisType")]
    _analysis_type: String,
    #[serde(rename = "GlobalID")]
    global_id: String,
    filename: String,
    #[serde(rename = "Description")]
    _description: Option<String>,
    #[serde(default, rename = "Tags")]
    _tags: Vec<String>,
}

/// `Reports` values are lists of identifiers that YAML may type as numbers
/// (`CIS: [3.6]`); they are kept as the text YAML gives back.
fn report_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Float(f64),
        Flag(bool),
    }
    let raw = BTreeMap::<String, Vec<Scalar>>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .map(|(framework, ids)| {
            let ids = ids
                .into_iter()
                .map(|id| match id {
                    Scalar::Text(text) => text,
                    Scalar::Integer(n) => n.to_string(),
                    Scalar::Float(x) => x.to_string(),
                    Scalar::Flag(b) => b.to_string(),
                })
                .collect();
            (framework, ids)
        })
        .collect())
}

/// A rule's validated metadata: everything an outcome needs besides the Python results.
#[derive(Clone, Debug)]
pub(crate) struct RuleMeta {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) enabled: bool,
    pub(crate) log_types: Vec<String>,
    pub(crate) severity: Severity,
    pub(crate) dedup_period_minutes: u64,
    pub(crate) threshold: u64,
    pub(crate) display_name: String,
    pub(crate) description: String,
    pub(crate) reference: String,
    pub(crate) runbook: String,
    pub(crate) tags: Vec<String>,
    pub(crate) reports: BTreeMap<String, Vec<String>>,
    pub(crate) output_ids: Vec<String>,
    pub(crate) python_path: PathBuf,
}

/// A rule as found on disk: metadata, Python source and unit tests.
#[derive(Debug)]
pub(crate) struct RuleDefinition {
    pub(crate) meta: RuleMeta,
    pub(crate) tests: Vec<TestSpec>,
}

/// A global helper: importable as `GlobalID` from any rule.
#[derive(Debug)]
pub(crate) struct GlobalDefinition {
    pub(crate) id: String,
    pub(crate) yaml_path: PathBuf,
    pub(crate) python_path: PathBuf,
}

/// Everything a detection directory declares, rules sorted by `RuleID`.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub(crate) rules: Vec<RuleDefinition>,
    pub(crate) globals: Vec<GlobalDefinition>,
}

/// Analysis types Panther defines that Corvid does not run; files of these types are skipped.
const SKIPPED_ANALYSIS_TYPES: &[&str] = &[
    "policy",
    "scheduled_rule",
    "correlation_rule",
    "datamodel",
    "pack",
    "saved_query",
    "scheduled_query",
    "lookup_table",
    "scheduled_prompt",
];

/// Reads every analysis file under `dir`.
///
/// Fails on the first file that is unreadable, malformed, or clashes with another
/// file's id; the error names that file.
pub(crate) fn discover(dir: &Path) -> Result<Catalog, RuleLoadError> {
    let mut files = Vec::new();
    collect_yaml_files(dir, &mut files)?;

    let mut catalog = Catalog::default();
    let mut rule_files: HashMap<String, PathBuf> = HashMap::new();
    let mut global_files: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| RuleLoadError::Io {
            path: file.clone(),
            source,
        })?;
        let kind: AnalysisKind = parse_yaml(&file, &text)?;
        match kind.analysis_type.as_deref() {
            Some("rule") => {
                let spec: RuleSpec = parse_yaml(&file, &text)?;
                let rule = rule_definition(&file, &text, spec)?;
                remember_id("RuleID", &rule.meta.id, &file, &mut rule_files)?;
                catalog.rules.push(rule);
            }
            Some("global") => {
                let spec: GlobalSpec = parse_yaml(&file, &text)?;
                let global = global_definition(&file, spec)?;
                remember_id("GlobalID", &global.id, &file, &mut global_files)?;
                catalog.globals.push(global);
            }
            Some(other) if SKIPPED_ANALYSIS_TYPES.contains(&other) => {
                tracing::debug!(file = %file.display(), analysis_type = other, "skipping analysis file Corvid does not run");
            }
            Some(other) => {
                return Err(RuleLoadError::Invalid {
                    file,
                    reason: format!("unknown AnalysisType `{other}`"),
                })
            }
            None => {
                return Err(RuleLoadError::Invalid {
                    file,
                    reason: "missing AnalysisType".to_string(),
                })
            }
        }
    }
    catalog.rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    Ok(catalog)
}

fn collect_yaml_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), RuleLoadError> {
    let io_error = |source| RuleLoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_error)?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    entries.sort();
    for path in entries {
        let hidden = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_yaml_files(&path, files)?;
        } else if matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("yml" | "yaml")
        ) {
            files.push(path);
        }
    }
    Ok(())
}

fn parse_yaml<T: for<'de> Deserialize<'de>>(file: &Path, text: &str) -> Result<T, RuleLoadError> {
    serde_yaml_ng::from_str(text).map_err(|source| RuleLoadError::Yaml {
        file: file.to_path_buf(),
        source,
    })
}

fn remember_id(
    kind: &'static str,
    id: &str,
    file: &Path,
    seen: &mut HashMap<String, PathBuf>,
) -> Result<(), RuleLoadError> {
    if let Some(first) = seen.get(id) {
        return Err(RuleLoadError::DuplicateId {
            kind,
            id: id.to_string(),
            first: first.clone(),
            second: file.to_path_buf(),
        });
    }
    seen.insert(id.to_string(), file.to_path_buf());
    Ok(())
}

/// The Python file a YAML `Filename` names, resolved next to the YAML file.
fn python_path(file: &Path, filename: &str) -> PathBuf {
    file.parent().unwrap_or(Path::new(".")).join(filename)
}

fn rule_definition(
    file: &Path,
    yaml: &str,
    spec: RuleSpec,
) -> Result<RuleDefinition, RuleLoadError> {
    let invalid = |reason: String| RuleLoadError::Invalid {
        file: file.to_path_buf(),
        reason,
    };
    if spec.rule_id.is_empty() || spec.rule_id.contains(['<', '>', '&', '"', '%']) {
        return Err(invalid(format!(
            "RuleID `{}` must be non-empty and free of < > & \" %",
            spec.rule_id
        )));
    }
    let severity = Severity::parse(&spec.severity).ok_or_else(|| {
        invalid(format!(
            "rule {}: Severity `{}` is not one of Info, Low, Medium, High, Critical",
            spec.rule_id, spec.severity
        ))
    })?;
    if spec.log_types.is_empty() {
        return Err(invalid(format!("rule {}: LogTypes is empty", spec.rule_id)));
    }
    let Some(filename) = spec.filename.as_deref() else {
        return Err(invalid(format!(
            "rule {}: no Filename (YAML-only `Detection` rules are not supported)",
            spec.rule_id
        )));
    };
    let python_path = python_path(file, filename);
    let python = std::fs::read(&python_path).map_err(|source| RuleLoadError::Python {
        file: file.to_path_buf(),
        python: python_path.clone(),
        source,
    })?;
    let unhonoured = spec.unhonoured_keys();
    if !unhonoured.is_empty() {
        tracing::warn!(
            rule = %spec.rule_id,
            file = %file.display(),
            keys = ?unhonoured,
            "rule uses Panther keys Corvid does not implement; they are ignored"
        );
    }

    let mut digest = Sha256::new();
    digest.update(yaml.as_bytes());
    digest.update(&python);
    let mut version = hex::encode(digest.finalize());
    version.truncate(16);

    let meta = RuleMeta {
        version,
        enabled: spec.enabled,
        log_types: spec.log_types,
        severity,
        dedup_period_minutes: match spec.dedup_period_minutes {
            None | Some(0) => 60,
            Some(minutes) => minutes,
        },
        threshold: spec.threshold.unwrap_or(1).max(1),
        display_name: spec.display_name.unwrap_or_default(),
        description: spec.description.unwrap_or_default(),
        reference: spec.reference.unwrap_or_default(),
        runbook: spec.runbook.unwrap_or_default(),
        tags: spec.tags,
        reports: spec.reports,
        output_ids: spec.output_ids,
        python_path,
        id: spec.rule_id,
    };
    Ok(RuleDefinition {
        meta,
        tests: spec.tests,
    })
}

fn global_definition(file: &Path, spec: GlobalSpec) -> Result<GlobalDefinition, RuleLoadError> {
    let is_identifier = spec
        .global_id
        .chars()
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_')
        && spec
            .global_id
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_');
    if !is_identifier {
        return Err(RuleLoadError::Invalid {
            file: file.to_path_buf(),
            reason: format!(
                "GlobalID `{}` is not a Python module name (rules import it by that name)",
                spec.global_id
            ),
        });
    }
    let python_path = python_path(file, &spec.filename);
    if !python_path.is_file() {
        return Err(RuleLoadError::Python {
            file: file.to_path_buf(),
            python: python_path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a file"),
        });
    }
    Ok(GlobalDefinition {
        id: spec.global_id,
        yaml_path: file.to_path_buf(),
        python_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write fixture");
    }

    const RULE: &str = "AnalysisType: rule\nRuleID: Test.Rule\nFilename: r.py\nEnabled: true\nLogTypes: [Test.Log]\nSeverity: medium\n";

    #[test]
    fn defaults_follow_panther() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.py", "def rule(e):\n    return True\n");
        write(
            dir.path(),
            "r.yml",
            &format!("{RULE}DedupPeriodMinutes: 0\nReports:\n  CIS: [3.6, '1.10']\n"),
        );
        let catalog = discover(dir.path()).expect("discover");
        let meta = &catalog.rules[0].meta;
        assert_eq!(meta.severity, Severity::Medium);
        assert_eq!(meta.dedup_period_minutes, 60);
        assert_eq!(meta.threshold, 1);
        assert_eq!(meta.version.len(), 16);
        assert_eq!(meta.reports["CIS"], vec!["3.6", "1.10"]);
    }

    #[test]
    fn unknown_key_is_an_error_naming_key_and_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.py", "def rule(e):\n    return True\n");
        write(
            dir.path(),
            "typo.yml",
            &format!("{RULE}DedupPeriodMinuts: 15\n"),
        );
        let message = discover(dir.path()).expect_err("typo").to_string();
        assert!(message.contains("DedupPeriodMinuts"), "{message}");
        assert!(message.contains("typo.yml"), "{message}");
    }

    #[test]
    fn unknown_key_in_a_test_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.py", "def rule(e):\n    return True\n");
        write(
            dir.path(),
            "r.yml",
            &format!("{RULE}Tests:\n  - Name: t\n    ExpectedResult: true\n    Logg: {{}}\n"),
        );
        let message = discover(dir.path()).expect_err("typo").to_string();
        assert!(message.contains("Logg"), "{message}");
    }

    #[test]
    fn invalid_severity_and_duplicate_ids_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.py", "def rule(e):\n    return True\n");
        write(dir.path(), "a.yml", &RULE.replace("medium", "Urgent"));
        let message = discover(dir.path()).expect_err("severity").to_string();
        assert!(
            message.contains("Urgent") && message.contains("a.yml"),
            "{message}"
        );

        write(dir.path(), "a.yml", RULE);
        write(dir.path(), "b.yaml", RULE);
        let message = discover(dir.path()).expect_err("duplicate").to_string();
        assert!(message.contains("Test.Rule"), "{message}");
        assert!(
            message.contains("a.yml") && message.contains("b.yaml"),
            "{message}"
        );
    }

    #[test]
    fn other_analysis_types_are_skipped_and_unknown_ones_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "p.yml", "AnalysisType: policy\nPolicyID: P\n");
        assert!(discover(dir.path()).expect("skip").rules.is_empty());
        write(dir.path(), "q.yml", "AnalysisType: ruel\n");
        let message = discover(dir.path()).expect_err("unknown").to_string();
        assert!(
            message.contains("ruel") && message.contains("q.yml"),
            "{message}"
        );
    }

    #[test]
    fn missing_python_file_names_both_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.yml", RULE);
        let message = discover(dir.path()).expect_err("missing").to_string();
        assert!(
            message.contains("r.yml") && message.contains("r.py"),
            "{message}"
        );
    }
}
