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

use super::filters::Filter;
use super::jsonpath::JsonPath;
use super::{LoadFailure, RuleLoadError};

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

/// What a detection is: which function decides, and whether it runs on the event stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DetectionKind {
    /// `AnalysisType: rule`: `rule(event)`, run on the events of its `LogTypes`.
    Rule,
    /// `AnalysisType: scheduled_rule`: `rule(row)` over scheduled-query output. Corvid
    /// does not run scheduled queries yet; the rule's unit tests still run.
    ScheduledRule,
    /// `AnalysisType: policy`: `policy(resource)` over cloud resources; unit tests only.
    Policy,
}

impl DetectionKind {
    /// The function that decides: `rule` or `policy`.
    pub(crate) fn matcher(self) -> &'static str {
        match self {
            DetectionKind::Policy => "policy",
            DetectionKind::Rule | DetectionKind::ScheduledRule => "rule",
        }
    }

    /// The matcher result that raises an alert: `True` for rules, `False` (non-compliant)
    /// for policies.
    pub(crate) fn alert_value(self) -> bool {
        self != DetectionKind::Policy
    }

    /// The YAML key holding the detection's id.
    pub(crate) fn id_key(self) -> &'static str {
        match self {
            DetectionKind::Policy => "PolicyID",
            DetectionKind::Rule | DetectionKind::ScheduledRule => "RuleID",
        }
    }
}

/// Only `AnalysisType`, read first to choose the schema for the whole file.
#[derive(Deserialize)]
struct AnalysisKind {
    #[serde(rename = "AnalysisType")]
    analysis_type: Option<String>,
}

/// `AnalysisType: rule` and `scheduled_rule`, key for key as `panther_analysis_tool`
/// accepts them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RuleSpec {
    #[serde(rename = "AnalysisType")]
    _analysis_type: String,
    #[serde(rename = "RuleID")]
    rule_id: String,
    filename: Option<String>,
    enabled: bool,
    log_types: Option<Vec<String>>,
    #[serde(rename = "ScheduledQueries")]
    _scheduled_queries: Option<Vec<String>>,
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
    inline_filters: Option<serde_json::Value>,
    create_alert: Option<bool>,
    #[serde(rename = "Status")]
    _status: Option<String>,

    // YAML-only detections (`Detection`) have no Python to run: reported, not loaded.
    detection: Option<IgnoredAny>,
    // Known Panther keys Corvid accepts without acting on them. The first group changes
    // which alerts a rule raises, so its presence is warned about (see `unhonoured_keys`).
    alert_title: Option<IgnoredAny>,
    alert_context: Option<IgnoredAny>,
    group_by: Option<IgnoredAny>,
    dynamic_severities: Option<IgnoredAny>,
    #[serde(rename = "Suppressions")]
    _suppressions: Option<IgnoredAny>,
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

/// `AnalysisType: policy`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct PolicySpec {
    #[serde(rename = "AnalysisType")]
    _analysis_type: String,
    #[serde(rename = "PolicyID")]
    policy_id: String,
    filename: String,
    enabled: bool,
    #[serde(default)]
    resource_types: Vec<String>,
    severity: String,
    display_name: Option<String>,
    description: Option<String>,
    reference: Option<String>,
    runbook: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "report_map")]
    reports: BTreeMap<String, Vec<String>>,
    #[serde(default, rename = "OutputIds")]
    output_ids: Vec<String>,
    #[serde(default)]
    tests: Vec<TestSpec>,
    #[serde(rename = "Status")]
    _status: Option<String>,
    #[serde(rename = "ActionDelaySeconds")]
    _action_delay_seconds: Option<IgnoredAny>,
    #[serde(rename = "AutoRemediationID")]
    _auto_remediation_id: Option<IgnoredAny>,
    #[serde(rename = "AutoRemediationParameters")]
    _auto_remediation_parameters: Option<IgnoredAny>,
    #[serde(rename = "Suppressions")]
    _suppressions: Option<IgnoredAny>,
    #[serde(rename = "CreatedBy")]
    _created_by: Option<IgnoredAny>,
    #[serde(rename = "OnlyUseBaseRiskScore")]
    _only_use_base_risk_score: Option<IgnoredAny>,
    #[serde(rename = "BaseVersion")]
    _base_version: Option<IgnoredAny>,
}

/// One entry of a detection's `Tests`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct TestSpec {
    pub(crate) name: String,
    pub(crate) expected_result: bool,
    /// A rule's event; a YAML mapping becomes a JSON object.
    log: Option<serde_json::Value>,
    /// A policy's resource.
    resource: Option<serde_json::Value>,
    /// The destinations the alert must go to (`[]`: none, i.e. `SKIP`).
    pub(crate) expected_destinations: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) mocks: Vec<MockSpec>,
    // Legacy keys PAT still accepts in a test.
    #[serde(rename = "LogType")]
    _log_type: Option<IgnoredAny>,
    #[serde(rename = "ResourceType")]
    _resource_type: Option<IgnoredAny>,
}

impl TestSpec {
    /// What the test hands the detection: `Resource` if given, else `Log`.
    pub(crate) fn input(&self) -> &serde_json::Value {
        self.resource
            .as_ref()
            .or(self.log.as_ref())
            .unwrap_or(&serde_json::Value::Null)
    }
}

/// The test-entry rules pat's schema enforces: a rule's test carries a `Log`, and a
/// mock's `returnValue` is a string or a boolean. pat refuses the whole detection
/// otherwise, so Corvid does too (same verdicts from both tools).
fn check_tests(tests: &[TestSpec], needs_log: bool) -> Result<(), String> {
    for test in tests {
        if needs_log && test.log.is_none() {
            return Err(format!("Tests: test {:?} has no Log", test.name));
        }
        if let Some(mock) = test.mocks.iter().find(|mock| {
            !matches!(
                mock.return_value,
                serde_json::Value::String(_) | serde_json::Value::Bool(_)
            )
        }) {
            return Err(format!(
                "Tests: test {:?}: Mocks returnValue of {} must be a string or a boolean",
                test.name, mock.object_name
            ));
        }
    }
    Ok(())
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
    #[serde(rename = "BaseVersion")]
    _base_version: Option<IgnoredAny>,
}

/// `AnalysisType: datamodel`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct DataModelSpec {
    #[serde(rename = "AnalysisType")]
    _analysis_type: String,
    #[serde(rename = "DataModelID")]
    data_model_id: String,
    enabled: bool,
    log_types: Vec<String>,
    mappings: Vec<MappingSpec>,
    filename: Option<String>,
    #[serde(rename = "DisplayName")]
    _display_name: Option<String>,
    #[serde(rename = "BaseVersion")]
    _base_version: Option<IgnoredAny>,
}

/// One `Mappings` entry: a unified field name and where its value comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct MappingSpec {
    name: String,
    path: Option<String>,
    method: Option<String>,
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

/// A detection's validated metadata: everything an outcome needs besides Python results.
#[derive(Clone, Debug)]
pub(crate) struct RuleMeta {
    pub(crate) id: String,
    pub(crate) kind: DetectionKind,
    pub(crate) version: String,
    pub(crate) enabled: bool,
    /// `LogTypes` of a rule, `ResourceTypes` of a policy.
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
    /// `CreateAlert` (default true); false makes a "signal" rule that records matches only.
    pub(crate) create_alert: bool,
    /// `InlineFilters`, evaluated before `rule()` on the event stream.
    pub(crate) filters: Option<Filter>,
    pub(crate) python_path: PathBuf,
}

/// A detection as found on disk: metadata, Python source and unit tests.
#[derive(Debug)]
pub(crate) struct RuleDefinition {
    pub(crate) meta: RuleMeta,
    pub(crate) tests: Vec<TestSpec>,
    /// The whole YAML, for `--filter KEY=VALUE`.
    pub(crate) spec: serde_json::Value,
}

/// A global helper: importable as `GlobalID` from any rule.
#[derive(Debug)]
pub(crate) struct GlobalDefinition {
    pub(crate) id: String,
    pub(crate) yaml_path: PathBuf,
    pub(crate) python_path: PathBuf,
}

/// Where a data-model field comes from.
#[derive(Debug)]
pub(crate) enum MappingSource {
    Path(JsonPath),
    Method(String),
}

/// An enabled data model: unified names for the fields of its log types.
#[derive(Debug)]
pub(crate) struct DataModelDefinition {
    pub(crate) id: String,
    pub(crate) log_types: Vec<String>,
    pub(crate) mappings: Vec<(String, MappingSource)>,
    pub(crate) yaml_path: PathBuf,
    pub(crate) python_path: Option<PathBuf>,
}

/// Everything a detection directory declares, detections sorted by id.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub(crate) rules: Vec<RuleDefinition>,
    pub(crate) globals: Vec<GlobalDefinition>,
    pub(crate) data_models: Vec<DataModelDefinition>,
    /// Files that could not become part of the set; the others load regardless.
    pub(crate) failures: Vec<LoadFailure>,
}

/// Analysis types Panther defines that Corvid recognises but does not load.
const SKIPPED_ANALYSIS_TYPES: &[&str] = &[
    "pack",
    "saved_query",
    "scheduled_query",
    "lookup_table",
    "scheduled_prompt",
];

/// Reads every analysis file under `dir`.
///
/// Fatal (an `Err`): `dir` or a directory below it cannot be listed, or two files declare
/// the same id. Any other problem of one file becomes a [`LoadFailure`] in the catalog.
pub(crate) fn discover(dir: &Path) -> Result<Catalog, RuleLoadError> {
    let mut files = Vec::new();
    collect_yaml_files(dir, &mut files)?;

    let mut catalog = Catalog::default();
    let mut detection_files: HashMap<String, PathBuf> = HashMap::new();
    let mut global_files: HashMap<String, PathBuf> = HashMap::new();
    let mut model_files: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        match read_analysis_file(&file) {
            Ok(Analysis::Detection(rule)) => {
                let kind = rule.meta.kind.id_key();
                remember_id(kind, &rule.meta.id, &file, &mut detection_files)?;
                catalog.rules.push(*rule);
            }
            Ok(Analysis::Global(global)) => {
                remember_id("GlobalID", &global.id, &file, &mut global_files)?;
                catalog.globals.push(global);
            }
            Ok(Analysis::DataModel(model, id)) => {
                remember_id("DataModelID", &id, &file, &mut model_files)?;
                catalog.data_models.extend(model);
            }
            Ok(Analysis::Skipped) => {}
            Err(failure) => catalog.failures.push(*failure),
        }
    }
    catalog.rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    Ok(catalog)
}

/// One analysis file, read.
enum Analysis {
    Detection(Box<RuleDefinition>),
    Global(GlobalDefinition),
    /// `None` when the data model is disabled; the id is kept for duplicate checks.
    DataModel(Option<DataModelDefinition>, String),
    Skipped,
}

fn read_analysis_file(file: &Path) -> Result<Analysis, Box<LoadFailure>> {
    let stem = file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(file)
        .map_err(|err| failure(&stem, file, None, "OSError", format!("cannot read: {err}")))?;
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).map_err(|err| {
        let line = err.location().map(|at| at.line() as u32);
        failure(&stem, file, line, "YAMLError", err.to_string())
    })?;
    // The id, if the file names one, so that a failure says which detection is missing.
    let id = ["RuleID", "PolicyID", "GlobalID", "DataModelID"]
        .iter()
        .find_map(|key| value.get(*key).and_then(|id| id.as_str()))
        .unwrap_or(&stem)
        .to_string();
    let schema_error = |err: serde_yaml_ng::Error| {
        let line = err.location().map(|at| at.line() as u32);
        failure(&id, file, line, "SchemaError", err.to_string())
    };
    let kind: AnalysisKind = serde_yaml_ng::from_str(&text).map_err(schema_error)?;
    match kind.analysis_type.as_deref() {
        Some(kind @ ("rule" | "scheduled_rule")) => {
            let spec: RuleSpec = serde_yaml_ng::from_str(&text).map_err(schema_error)?;
            let kind = if kind == "rule" {
                DetectionKind::Rule
            } else {
                DetectionKind::ScheduledRule
            };
            if kind == DetectionKind::ScheduledRule {
                tracing::warn!(
                    rule = %spec.rule_id,
                    file = %file.display(),
                    "scheduled rules are not yet supported: only their unit tests run"
                );
            }
            rule_definition(file, &text, kind, spec)
                .map(|rule| Analysis::Detection(Box::new(with_spec(rule, &value))))
        }
        Some("policy") => {
            let spec: PolicySpec = serde_yaml_ng::from_str(&text).map_err(schema_error)?;
            policy_definition(file, &text, spec)
                .map(|rule| Analysis::Detection(Box::new(with_spec(rule, &value))))
        }
        Some("global") => {
            let spec: GlobalSpec = serde_yaml_ng::from_str(&text).map_err(schema_error)?;
            global_definition(file, spec).map(Analysis::Global)
        }
        Some("datamodel") => {
            let spec: DataModelSpec = serde_yaml_ng::from_str(&text).map_err(schema_error)?;
            let id = spec.data_model_id.clone();
            data_model_definition(file, spec).map(|model| Analysis::DataModel(model, id))
        }
        Some("correlation_rule") => {
            tracing::warn!(
                rule = %id,
                file = %file.display(),
                "correlation rules are not yet supported: skipped"
            );
            Ok(Analysis::Skipped)
        }
        Some(other) if SKIPPED_ANALYSIS_TYPES.contains(&other) => {
            tracing::debug!(file = %file.display(), analysis_type = other, "skipping analysis file Corvid does not run");
            Ok(Analysis::Skipped)
        }
        Some(other) => Err(failure(
            &id,
            file,
            None,
            "SchemaError",
            format!("unknown AnalysisType `{other}`"),
        )),
        None => Err(failure(
            &id,
            file,
            None,
            "SchemaError",
            "missing AnalysisType".to_string(),
        )),
    }
}

fn with_spec(mut rule: RuleDefinition, yaml: &serde_yaml_ng::Value) -> RuleDefinition {
    rule.spec = serde_json::to_value(yaml).unwrap_or_default();
    rule
}

fn failure(
    id: &str,
    file: &Path,
    line: Option<u32>,
    error_type: &str,
    message: String,
) -> Box<LoadFailure> {
    Box::new(LoadFailure {
        rule_id: id.to_string(),
        file: file.to_path_buf(),
        line,
        error_type: error_type.to_string(),
        message,
    })
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

fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(['<', '>', '&', '"', '%'])
}

/// Reads the Python file of a detection and derives its version from both sources.
fn version_of(
    file: &Path,
    id: &str,
    yaml: &str,
    python_path: &Path,
) -> Result<String, Box<LoadFailure>> {
    let python = std::fs::read(python_path).map_err(|err| {
        failure(
            id,
            file,
            None,
            "FileNotFoundError",
            format!("cannot read its Filename {}: {err}", python_path.display()),
        )
    })?;
    let mut digest = Sha256::new();
    digest.update(yaml.as_bytes());
    digest.update(&python);
    let mut version = hex::encode(digest.finalize());
    version.truncate(16);
    Ok(version)
}

/// The checks every detection's id and severity pass, rules and policies alike.
fn id_and_severity(id_key: &str, id: &str, severity: &str) -> Result<Severity, String> {
    if !valid_id(id) {
        return Err(format!(
            "{id_key} `{id}` must be non-empty and free of < > & \" %"
        ));
    }
    Severity::parse(severity).ok_or_else(|| {
        format!("Severity `{severity}` is not one of Info, Low, Medium, High, Critical")
    })
}

fn rule_definition(
    file: &Path,
    yaml: &str,
    kind: DetectionKind,
    spec: RuleSpec,
) -> Result<RuleDefinition, Box<LoadFailure>> {
    let id = spec.rule_id.clone();
    let invalid = |message: String| failure(&id, file, None, "SchemaError", message);
    let severity = id_and_severity("RuleID", &spec.rule_id, &spec.severity).map_err(invalid)?;
    let log_types = spec.log_types.clone().unwrap_or_default();
    if kind == DetectionKind::Rule && log_types.is_empty() {
        return Err(invalid("LogTypes is missing or empty".to_string()));
    }
    if spec.detection.is_some() {
        return Err(failure(
            &id,
            file,
            None,
            "NotSupported",
            "YAML-only `Detection` rules are not supported yet".to_string(),
        ));
    }
    let Some(filename) = spec.filename.as_deref() else {
        return Err(invalid("no Filename".to_string()));
    };
    check_tests(&spec.tests, kind != DetectionKind::Policy).map_err(invalid)?;
    let filters = match &spec.inline_filters {
        None => None,
        Some(value) => Some(
            Filter::parse(value).map_err(|reason| invalid(format!("InlineFilters: {reason}")))?,
        ),
    };
    let python_path = python_path(file, filename);
    let version = version_of(file, &id, yaml, &python_path)?;
    let unhonoured = spec.unhonoured_keys();
    if !unhonoured.is_empty() {
        tracing::warn!(
            rule = %spec.rule_id,
            file = %file.display(),
            keys = ?unhonoured,
            "rule uses Panther keys Corvid does not implement; they are ignored"
        );
    }

    let meta = RuleMeta {
        kind,
        version,
        enabled: spec.enabled,
        log_types,
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
        create_alert: spec.create_alert.unwrap_or(true),
        filters,
        python_path,
        id: spec.rule_id,
    };
    Ok(RuleDefinition {
        meta,
        tests: spec.tests,
        spec: serde_json::Value::Null,
    })
}

fn policy_definition(
    file: &Path,
    yaml: &str,
    spec: PolicySpec,
) -> Result<RuleDefinition, Box<LoadFailure>> {
    let id = spec.policy_id.clone();
    let invalid = |message: String| failure(&id, file, None, "SchemaError", message);
    let severity = id_and_severity("PolicyID", &spec.policy_id, &spec.severity).map_err(invalid)?;
    let python_path = python_path(file, &spec.filename);
    let version = version_of(file, &id, yaml, &python_path)?;
    let meta = RuleMeta {
        kind: DetectionKind::Policy,
        version,
        enabled: spec.enabled,
        log_types: spec.resource_types,
        severity,
        dedup_period_minutes: 60,
        threshold: 1,
        display_name: spec.display_name.unwrap_or_default(),
        description: spec.description.unwrap_or_default(),
        reference: spec.reference.unwrap_or_default(),
        runbook: spec.runbook.unwrap_or_default(),
        tags: spec.tags,
        reports: spec.reports,
        output_ids: spec.output_ids,
        create_alert: true,
        filters: None,
        python_path,
        id: spec.policy_id,
    };
    Ok(RuleDefinition {
        meta,
        tests: spec.tests,
        spec: serde_json::Value::Null,
    })
}

fn global_definition(file: &Path, spec: GlobalSpec) -> Result<GlobalDefinition, Box<LoadFailure>> {
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
        return Err(failure(
            &spec.global_id,
            file,
            None,
            "SchemaError",
            format!(
                "GlobalID `{}` is not a Python module name (rules import it by that name)",
                spec.global_id
            ),
        ));
    }
    let python_path = python_path(file, &spec.filename);
    if !python_path.is_file() {
        return Err(failure(
            &spec.global_id,
            file,
            None,
            "FileNotFoundError",
            format!("cannot read its Filename {}", python_path.display()),
        ));
    }
    Ok(GlobalDefinition {
        id: spec.global_id,
        yaml_path: file.to_path_buf(),
        python_path,
    })
}

fn data_model_definition(
    file: &Path,
    spec: DataModelSpec,
) -> Result<Option<DataModelDefinition>, Box<LoadFailure>> {
    let id = spec.data_model_id.clone();
    let invalid = |message: String| failure(&id, file, None, "SchemaError", message);
    if !spec.enabled {
        return Ok(None);
    }
    let python_path = spec.filename.as_deref().map(|name| python_path(file, name));
    if let Some(path) = &python_path {
        if !path.is_file() {
            return Err(failure(
                &id,
                file,
                None,
                "FileNotFoundError",
                format!("cannot read its Filename {}", path.display()),
            ));
        }
    }
    let mut mappings = Vec::with_capacity(spec.mappings.len());
    for mapping in spec.mappings {
        let source = match (mapping.path, mapping.method) {
            (Some(path), None) => MappingSource::Path(
                JsonPath::parse(&path)
                    .map_err(|reason| invalid(format!("mapping {}: {reason}", mapping.name)))?,
            ),
            (None, Some(method)) => {
                if python_path.is_none() {
                    return Err(invalid(format!(
                        "mapping {} names Method {method} but the data model has no Filename",
                        mapping.name
                    )));
                }
                MappingSource::Method(method)
            }
            _ => {
                return Err(invalid(format!(
                    "mapping {} needs exactly one of Path and Method",
                    mapping.name
                )))
            }
        };
        mappings.push((mapping.name, source));
    }
    Ok(Some(DataModelDefinition {
        id: spec.data_model_id,
        log_types: spec.log_types,
        mappings,
        yaml_path: file.to_path_buf(),
        python_path,
    }))
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

    /// The single failure of a directory expected to hold exactly one broken file.
    fn only_failure(dir: &Path) -> LoadFailure {
        let catalog = discover(dir).expect("discover");
        assert_eq!(catalog.failures.len(), 1, "{:?}", catalog.failures);
        catalog.failures[0].clone()
    }

    #[test]
    fn unknown_key_is_a_failure_naming_key_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.py", "def rule(e):\n    return True\n");
        write(
            dir.path(),
            "typo.yml",
            &format!("{RULE}DedupPeriodMinuts: 15\n"),
        );
        let failure = only_failure(dir.path());
        assert_eq!(failure.rule_id, "Test.Rule");
        assert_eq!(failure.error_type, "SchemaError");
        assert_eq!(failure.line, Some(7));
        assert!(failure.message.contains("DedupPeriodMinuts"), "{failure}");
        assert!(failure.to_string().contains("typo.yml:7"), "{failure}");
    }

    #[test]
    fn unknown_key_in_a_test_is_a_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.py", "def rule(e):\n    return True\n");
        write(
            dir.path(),
            "r.yml",
            &format!("{RULE}Tests:\n  - Name: t\n    ExpectedResult: true\n    Logg: {{}}\n"),
        );
        assert!(only_failure(dir.path()).message.contains("Logg"));
    }

    #[test]
    fn tests_without_log_or_with_non_string_mocks_are_refused_as_pat_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.py", "def rule(e):\n    return True\n");
        write(
            dir.path(),
            "r.yml",
            &format!("{RULE}Tests:\n  - Name: t\n    ExpectedResult: true\n"),
        );
        assert!(only_failure(dir.path()).message.contains("has no Log"));
        write(
            dir.path(),
            "r.yml",
            &format!("{RULE}Tests:\n  - Name: t\n    ExpectedResult: true\n    Log: {{}}\n    Mocks:\n      - {{ objectName: x, returnValue: 5 }}\n"),
        );
        assert!(only_failure(dir.path())
            .message
            .contains("string or a boolean"));
    }

    #[test]
    fn invalid_severity_is_a_failure_and_duplicate_ids_are_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.py", "def rule(e):\n    return True\n");
        write(dir.path(), "a.yml", &RULE.replace("medium", "Urgent"));
        let failure = only_failure(dir.path());
        assert!(failure.message.contains("Urgent"), "{failure}");
        assert!(failure.file.ends_with("a.yml"), "{failure}");

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
    fn analysis_types() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "p.py", "def policy(r):\n    return True\n");
        write(
            dir.path(),
            "p.yml",
            "AnalysisType: policy\nPolicyID: P\nFilename: p.py\nEnabled: true\nSeverity: Low\n\
             ResourceTypes: [AWS.S3.Bucket]\n",
        );
        write(
            dir.path(),
            "s.yml",
            "AnalysisType: scheduled_rule\nRuleID: S\nFilename: p.py\nEnabled: true\nSeverity: Low\n\
             ScheduledQueries: [q]\n",
        );
        write(
            dir.path(),
            "c.yml",
            "AnalysisType: correlation_rule\nRuleID: C\nEnabled: true\nSeverity: Low\nDetection: []\n",
        );
        let catalog = discover(dir.path()).expect("discover");
        assert!(catalog.failures.is_empty(), "{:?}", catalog.failures);
        let kinds: Vec<(&str, DetectionKind)> = catalog
            .rules
            .iter()
            .map(|rule| (rule.meta.id.as_str(), rule.meta.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("P", DetectionKind::Policy),
                ("S", DetectionKind::ScheduledRule)
            ]
        );
        write(dir.path(), "q.yml", "AnalysisType: ruel\n");
        let failure = only_failure(dir.path());
        assert!(failure.message.contains("ruel"), "{failure}");
        assert_eq!(failure.rule_id, "q");
    }

    #[test]
    fn data_models_parse_paths_and_name_methods() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "m.py", "def ip(e):\n    return '1'\n");
        write(
            dir.path(),
            "m.yml",
            "AnalysisType: datamodel\nDataModelID: M\nEnabled: true\nFilename: m.py\n\
             LogTypes: [A.B]\nMappings:\n  - Name: user\n    Path: $.a.b\n  - Name: ip\n    Method: ip\n",
        );
        let catalog = discover(dir.path()).expect("discover");
        let model = &catalog.data_models[0];
        assert_eq!(model.mappings.len(), 2);
        write(
            dir.path(),
            "m.yml",
            "AnalysisType: datamodel\nDataModelID: M\nEnabled: true\nLogTypes: [A.B]\n\
             Mappings:\n  - Name: user\n    Path: $.a[?(@.b)]\n",
        );
        assert!(only_failure(dir.path()).message.contains("not supported"));
    }

    #[test]
    fn missing_python_file_names_both_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "r.yml", RULE);
        let failure = only_failure(dir.path()).to_string();
        assert!(
            failure.contains("r.yml") && failure.contains("r.py"),
            "{failure}"
        );
    }
}
