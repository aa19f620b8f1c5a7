//! The embedded CPython side of a rule set: importing detections and calling them.
//!
//! ```text
//!   Catalog (YAML) ──load()──▶ globals registered by GlobalID, each imported afresh
//!                              data models: paths parsed, Method modules imported
//!                              detections imported as `corvid_rule_<n>_<stem>` ──▶ PythonRule
//!                              (a file that does not import ──▶ LoadFailure; the rest load)
//!   PythonRule ──matches(view)──▶ Ok(bool) | Err(PythonFailure)
//!              ──auxiliaries(view)──▶ Auxiliaries (raw results, defaults applied in `outcome`)
//! ```
//!
//! **Fresh on every load.** Each load compiles every file from its current text (no
//! bytecode cache), imports each detection under a process-unique module name, and
//! drops every global helper of earlier loads from `sys.modules` before importing the
//! new ones, so `import <GlobalID>` in a newly loaded rule binds the new helper while
//! rules of an older set keep the module objects they bound and keep working. Loads
//! are serialised by a lock taken in a way that cannot deadlock with the GIL. A
//! `GlobalID` that would shadow another module (the standard library's `json`, an
//! installed package) is a load failure of that global.
//!
//! **Timeouts.** Every call of a detection function is armed with the rule timeout (see
//! `watchdog`); a call that runs longer is interrupted with `RuleTimeout` and fails.
//!
//! **Return types.** As in panther-core, a function returning the wrong type is a failure
//! of that function (`FunctionReturnTypeError`): `rule`/`policy` must return exactly a
//! `bool`; `title`, `dedup`, `severity`, `description`, `reference`, `runbook` and
//! `unique` a `str`; `alert_context` a `Mapping`; `destinations` a `list` of `str` (or
//! `bool`) or `None`. A `severity` outside the five levels (and not `DEFAULT`) is an
//! `AssertionError`.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyAssertionError;
use pyo3::prelude::*;
use pyo3::sync::{MutexExt, PyOnceLock};
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyType};

use super::event_view::{mapping_type, DataModel, EventView};
use super::metadata::{Catalog, MappingSource, RuleMeta, Severity, TestSpec};
use super::outcome::{Auxiliaries, Location, PythonFailure, MAX_ALERT_CONTEXT_CHARS, RULE_TIMEOUT};
use super::{watchdog, LoadFailure, RuleLoadError};

const SUPPORT_SOURCE: &str = include_str!("support.py");
const SUPPORT_MODULE: &str = "corvid_rules_support";

/// Serialises loads: they change `sys.modules` and the GlobalID finder.
static LOADING: Mutex<()> = Mutex::new(());
/// Makes module names unique within the process.
static MODULE_SERIAL: AtomicU64 = AtomicU64::new(0);

/// Corvid's support module (`support.py`), created once per process.
pub(crate) fn support(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static SUPPORT: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    SUPPORT
        .get_or_try_init(py, || {
            let source = CString::new(SUPPORT_SOURCE)?;
            let file = CString::new(format!("{SUPPORT_MODULE}.py"))?;
            let name = CString::new(SUPPORT_MODULE)?;
            let module = PyModule::from_code(py, &source, &file, &name)?;
            module.add_class::<EventView>()?;
            module
                .getattr("register_view_type")?
                .call1((py.get_type::<EventView>(),))?;
            let timeout = module.getattr("RuleTimeout")?.cast_into::<PyType>()?;
            watchdog::set_timeout_class(timeout.unbind());
            Ok::<_, PyErr>(module.unbind())
        })
        .map(|module| module.bind(py))
}

/// Describes an exception the way rule errors report it.
pub(crate) fn describe(py: Python<'_>, err: &PyErr) -> PythonFailure {
    let described = support(py).and_then(|support| {
        support
            .getattr("describe")?
            .call1((err.value(py), err.traceback(py)))?
            .extract::<(
                String,
                String,
                String,
                Option<String>,
                Option<String>,
                Option<u32>,
            )>()
    });
    match described {
        Ok((class, message, repr, text, path, line)) => PythonFailure {
            class,
            message,
            repr,
            location: (text.is_some() || path.is_some()).then(|| {
                Box::new(Location {
                    text,
                    path: path.map(PathBuf::from),
                    line,
                })
            }),
        },
        // str() or repr() of the exception itself raised: report what is certain.
        Err(_) => {
            let class = err
                .get_type(py)
                .name()
                .map(|name| name.to_string())
                .unwrap_or_else(|_| "Exception".to_string());
            PythonFailure {
                repr: format!("{class}()"),
                message: "<exception str() failed>".to_string(),
                class,
                location: None,
            }
        }
    }
}

/// The functions a detection module defines; the matcher (`rule`/`policy`) is mandatory.
struct RuleFunctions {
    matcher: Py<PyAny>,
    title: Option<Py<PyAny>>,
    dedup: Option<Py<PyAny>>,
    severity: Option<Py<PyAny>>,
    alert_context: Option<Py<PyAny>>,
    description: Option<Py<PyAny>>,
    reference: Option<Py<PyAny>>,
    runbook: Option<Py<PyAny>>,
    destinations: Option<Py<PyAny>>,
    unique: Option<Py<PyAny>>,
}

/// A detection whose module is imported and ready to run.
pub(crate) struct PythonRule {
    pub(crate) meta: RuleMeta,
    pub(crate) tests: Vec<TestSpec>,
    /// The whole YAML, for `--filter`.
    pub(crate) spec: serde_json::Value,
    module: Py<PyModule>,
    functions: RuleFunctions,
    timeout: Duration,
}

/// What one load produced.
pub(crate) struct Loaded {
    pub(crate) rules: Vec<PythonRule>,
    /// Log type → its data model.
    pub(crate) data_models: HashMap<String, Arc<DataModel>>,
    pub(crate) failures: Vec<LoadFailure>,
}

/// Imports the globals, data models and detections of `catalog`. Disabled rules,
/// scheduled rules and policies only when `everything` (unit tests).
pub(crate) fn load(
    py: Python<'_>,
    catalog: Catalog,
    everything: bool,
    timeout: Duration,
) -> Result<Loaded, RuleLoadError> {
    let support =
        support(py).map_err(|err| RuleLoadError::Runtime(describe(py, &err).to_string()))?;
    let _loading = LOADING
        .lock_py_attached(py)
        .unwrap_or_else(PoisonError::into_inner);
    let mut failures = catalog.failures;

    let files = PyDict::new(py);
    for global in &catalog.globals {
        files
            .set_item(&global.id, &global.python_path)
            .map_err(|err| RuleLoadError::Runtime(describe(py, &err).to_string()))?;
    }
    let clashes: Vec<String> = support
        .getattr("register_globals")
        .and_then(|register| register.call1((files,)))
        .and_then(|clashes| clashes.extract())
        .map_err(|err| RuleLoadError::Runtime(describe(py, &err).to_string()))?;
    for global in &catalog.globals {
        if clashes.contains(&global.id) {
            failures.push(LoadFailure {
                rule_id: global.id.clone(),
                file: global.yaml_path.clone(),
                line: None,
                error_type: "SchemaError".to_string(),
                message: format!(
                    "GlobalID `{}` would shadow the Python module of that name",
                    global.id
                ),
            });
            continue;
        }
        // Imported now so that a broken helper is reported once, as itself; rules that
        // import it fail with the same error.
        if let Err(err) = py.import(global.id.as_str()) {
            failures.push(import_failure(py, &global.id, &global.python_path, &err));
        }
    }

    let mut data_models = HashMap::new();
    for model in catalog.data_models {
        let conflict = model
            .log_types
            .iter()
            .find(|log_type| data_models.contains_key(*log_type));
        if let Some(log_type) = conflict {
            failures.push(LoadFailure {
                rule_id: model.id.clone(),
                file: model.yaml_path.clone(),
                line: None,
                error_type: "SchemaError".to_string(),
                message: format!(
                    "Conflicting Enabled LogType [{log_type}] in Data Model [{}]",
                    model.id
                ),
            });
            continue;
        }
        match data_model(py, support, &model) {
            Ok(loaded) => {
                let loaded = Arc::new(loaded);
                for log_type in &model.log_types {
                    data_models.insert(log_type.clone(), Arc::clone(&loaded));
                }
            }
            Err(failure) => failures.push(*failure),
        }
    }

    let mut rules = Vec::with_capacity(catalog.rules.len());
    for definition in catalog.rules {
        let streaming = definition.meta.kind == super::metadata::DetectionKind::Rule;
        if !(everything || definition.meta.enabled && streaming) {
            continue;
        }
        let module = match import_module(py, support, &definition.meta.python_path) {
            Ok(module) => module,
            Err(err) => {
                failures.push(import_failure(
                    py,
                    &definition.meta.id,
                    &definition.meta.python_path,
                    &err,
                ));
                continue;
            }
        };
        let functions = match rule_functions(&module, &definition.meta) {
            Ok(functions) => functions,
            Err(failure) => {
                failures.push(*failure);
                continue;
            }
        };
        rules.push(PythonRule {
            meta: definition.meta,
            tests: definition.tests,
            spec: definition.spec,
            module: module.unbind(),
            functions,
            timeout,
        });
    }
    Ok(Loaded {
        rules,
        data_models,
        failures,
    })
}

fn import_failure(py: Python<'_>, id: &str, python: &Path, err: &PyErr) -> LoadFailure {
    let failure = describe(py, err);
    // The line is only meaningful in the file at fault; a failure inside a helper the
    // file imports names the helper.
    let at = failure.location.as_deref();
    let (file, line) = match at.and_then(|at| Some((at.path.clone()?, at.line?))) {
        Some((path, line)) => (path, Some(line)),
        None => (python.to_path_buf(), None),
    };
    LoadFailure {
        rule_id: id.to_string(),
        file,
        line,
        error_type: failure.class.clone(),
        message: match failure.location_text() {
            Some(location) => format!("{}: {location}", failure.message),
            None => failure.message.clone(),
        },
    }
}

fn import_module<'py>(
    py: Python<'py>,
    support: &Bound<'py, PyModule>,
    path: &Path,
) -> PyResult<Bound<'py, PyModule>> {
    let stem: String = path
        .file_stem()
        .map(|stem| stem.to_string_lossy())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let serial = MODULE_SERIAL.fetch_add(1, Ordering::Relaxed);
    let name = format!("corvid_rule_{serial}_{stem}");
    let _ = py;
    Ok(support
        .getattr("load_module")?
        .call1((name, path))?
        .cast_into::<PyModule>()?)
}

fn data_model(
    py: Python<'_>,
    support: &Bound<'_, PyModule>,
    model: &super::metadata::DataModelDefinition,
) -> Result<DataModel, Box<LoadFailure>> {
    let module = match &model.python_path {
        None => None,
        Some(path) => Some(
            import_module(py, support, path)
                .map_err(|err| Box::new(import_failure(py, &model.id, path, &err)))?,
        ),
    };
    let mut paths = HashMap::new();
    let mut methods = HashMap::new();
    for (name, source) in &model.mappings {
        match source {
            MappingSource::Path(path) => {
                paths.insert(name.clone(), path.clone());
            }
            MappingSource::Method(method) => {
                let function = module
                    .as_ref()
                    .and_then(|module| module.getattr(method.as_str()).ok())
                    .filter(|function| function.is_callable());
                let Some(function) = function else {
                    return Err(Box::new(LoadFailure {
                        rule_id: model.id.clone(),
                        file: model.yaml_path.clone(),
                        line: None,
                        error_type: "AssertionError".to_string(),
                        message: format!("DataModel is missing method named [{method}]"),
                    }));
                };
                methods.insert(name.clone(), function.unbind());
            }
        }
    }
    Ok(DataModel {
        id: model.id.clone(),
        paths,
        methods,
    })
}

fn rule_functions(
    module: &Bound<'_, PyModule>,
    meta: &RuleMeta,
) -> Result<RuleFunctions, Box<LoadFailure>> {
    // Defined means present, as panther-core's hasattr(): calling a non-callable fails.
    let function = |name: &str| module.getattr(name).ok().map(Bound::unbind);
    let matcher_name = meta.kind.matcher();
    let Some(matcher) = function(matcher_name) else {
        return Err(Box::new(LoadFailure {
            rule_id: meta.id.clone(),
            file: meta.python_path.clone(),
            line: None,
            error_type: "AssertionError".to_string(),
            message: format!("detection needs to have a method named '{matcher_name}'"),
        }));
    };
    Ok(RuleFunctions {
        matcher,
        title: function("title"),
        dedup: function("dedup"),
        severity: function("severity"),
        alert_context: function("alert_context"),
        description: function("description"),
        reference: function("reference"),
        runbook: function("runbook"),
        destinations: function("destinations"),
        unique: function("unique"),
    })
}

impl PythonRule {
    pub(crate) fn module<'py>(&self, py: Python<'py>) -> &Bound<'py, PyModule> {
        self.module.bind(py)
    }

    /// `rule(event)` (`policy(resource)`), which must return exactly `True` or `False`.
    pub(crate) fn matches(
        &self,
        py: Python<'_>,
        input: &Bound<'_, PyAny>,
    ) -> Result<bool, PythonFailure> {
        let name = self.meta.kind.matcher();
        let result = self.call(py, &self.functions.matcher, name, input)?;
        match result.cast::<PyBool>() {
            Ok(flag) => Ok(flag.is_true()),
            Err(_) => Err(self.wrong_type(py, name, &result, "bool")),
        }
    }

    /// Every auxiliary function the rule defines, called on `input`.
    pub(crate) fn auxiliaries(&self, py: Python<'_>, input: &Bound<'_, PyAny>) -> Auxiliaries {
        let functions = &self.functions;
        let text = |function: &Option<Py<PyAny>>, name: &str| {
            function
                .as_ref()
                .map(|function| self.call_for_text(py, function, name, input))
        };
        Auxiliaries {
            title: text(&functions.title, "title"),
            dedup: text(&functions.dedup, "dedup"),
            severity: functions
                .severity
                .as_ref()
                .map(|function| self.severity(py, function, input)),
            alert_context: functions
                .alert_context
                .as_ref()
                .map(|function| self.alert_context(py, function, input)),
            description: text(&functions.description, "description"),
            reference: text(&functions.reference, "reference"),
            runbook: text(&functions.runbook, "runbook"),
            destinations: functions
                .destinations
                .as_ref()
                .map(|function| self.destinations(py, function, input)),
            unique: text(&functions.unique, "unique"),
        }
    }

    /// Calls `function(input)` under the rule timeout.
    fn call<'py>(
        &self,
        py: Python<'py>,
        function: &Py<PyAny>,
        name: &str,
        input: &Bound<'py, PyAny>,
    ) -> Result<Bound<'py, PyAny>, PythonFailure> {
        let armed = watchdog::arm(self.timeout);
        let result = function.bind(py).call1((input,));
        if armed.disarm(py) {
            let location = result
                .as_ref()
                .err()
                .and_then(|err| describe(py, err).location_text().map(str::to_string));
            return Err(self.timeout_failure(name, location));
        }
        result.map_err(|err| describe(py, &err))
    }

    fn timeout_failure(&self, function: &str, location: Option<String>) -> PythonFailure {
        let file = self
            .meta
            .python_path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let message = format!(
            "detection [{}] function [{function}] in {file} ran longer than the rule timeout of {:?} and was interrupted",
            self.meta.id, self.timeout
        );
        PythonFailure {
            class: RULE_TIMEOUT.to_string(),
            repr: format!("{RULE_TIMEOUT}({message:?})"),
            message,
            location: Some(Box::new(Location {
                text: location,
                path: Some(self.meta.python_path.clone()),
                line: None,
            })),
        }
    }

    fn call_for_text(
        &self,
        py: Python<'_>,
        function: &Py<PyAny>,
        name: &str,
        input: &Bound<'_, PyAny>,
    ) -> Result<String, PythonFailure> {
        let result = self.call(py, function, name, input)?;
        let Ok(text) = result.cast::<PyString>() else {
            return Err(self.wrong_type(py, name, &result, "str"));
        };
        text.to_str()
            .map(str::to_string)
            .map_err(|err| describe(py, &err))
    }

    fn severity(
        &self,
        py: Python<'_>,
        function: &Py<PyAny>,
        input: &Bound<'_, PyAny>,
    ) -> Result<Option<Severity>, PythonFailure> {
        let severity = self
            .call_for_text(py, function, "severity", input)?
            .to_uppercase();
        if severity == "DEFAULT" {
            return Ok(None);
        }
        match Severity::parse(&severity) {
            Some(severity) => Ok(Some(severity)),
            None => Err(describe(
                py,
                &PyAssertionError::new_err(format!(
                    "Expected severity to be any of the following: \
                     [INFO, LOW, MEDIUM, HIGH, CRITICAL], got [{severity}] instead."
                )),
            )),
        }
    }

    fn alert_context(
        &self,
        py: Python<'_>,
        function: &Py<PyAny>,
        input: &Bound<'_, PyAny>,
    ) -> Result<String, PythonFailure> {
        let result = self.call(py, function, "alert_context", input)?;
        let is_mapping = mapping_type(py)
            .and_then(|mapping| result.is_instance(mapping))
            .map_err(|err| describe(py, &err))?;
        if !is_mapping {
            return Err(self.wrong_type(py, "alert_context", &result, "Mapping"));
        }
        let json: String = support(py)
            .and_then(|support| support.getattr("dump_context")?.call1((result,))?.extract())
            .map_err(|err| describe(py, &err))?;
        let size = json.chars().count();
        if size > MAX_ALERT_CONTEXT_CHARS {
            return Ok(serde_json::json!({
                "_error": format!(
                    "alert_context size is [{size}] characters, bigger than maximum of [{MAX_ALERT_CONTEXT_CHARS}] characters"
                )
            })
            .to_string());
        }
        Ok(json)
    }

    fn destinations(
        &self,
        py: Python<'_>,
        function: &Py<PyAny>,
        input: &Bound<'_, PyAny>,
    ) -> Result<Option<Vec<String>>, PythonFailure> {
        let result = self.call(py, function, "destinations", input)?;
        if result.is_none() {
            return Ok(None);
        }
        let Ok(list) = result.cast::<PyList>() else {
            return Err(self.wrong_type(py, "destinations", &result, "list"));
        };
        let mut names = Vec::with_capacity(list.len());
        for item in list.iter() {
            if let Ok(name) = item.cast::<PyString>() {
                names.push(name.to_str().map_err(|err| describe(py, &err))?.to_string());
            } else if let Ok(flag) = item.cast::<PyBool>() {
                // panther-core accepts booleans; they name no destination.
                names.push(if flag.is_true() { "True" } else { "False" }.to_string());
            } else {
                return Err(self.wrong_type(py, "destinations", &result, "list"));
            }
        }
        Ok(Some(names))
    }

    /// panther-core's `FunctionReturnTypeError` for a value of the wrong type.
    fn wrong_type(
        &self,
        py: Python<'_>,
        function: &str,
        value: &Bound<'_, PyAny>,
        expected: &str,
    ) -> PythonFailure {
        let actual = value
            .get_type()
            .name()
            .map(|name| name.to_string())
            .unwrap_or_else(|_| "?".to_string());
        let message = format!(
            "detection [{}] function [{function}] returned [{actual}], expected [{expected}]",
            self.meta.id
        );
        let err = support(py)
            .and_then(|support| {
                support
                    .getattr("FunctionReturnTypeError")?
                    .call1((message,))
            })
            .map(PyErr::from_value)
            .unwrap_or_else(|err| err);
        describe(py, &err)
    }
}

/// One unit test's isolation: its `Mocks` patched onto the detection module and its
/// printed output captured, both undone by [`TestIsolation::exit`].
pub(crate) struct TestIsolation<'py> {
    harness: Bound<'py, PyAny>,
}

impl<'py> TestIsolation<'py> {
    /// Patches `mocks` (name, JSON return value) onto the rule's module.
    pub(crate) fn enter(
        py: Python<'py>,
        rule: &PythonRule,
        mocks: &[(String, String)],
    ) -> Result<TestIsolation<'py>, PythonFailure> {
        let harness = support(py)
            .and_then(|support| {
                let harness = support
                    .getattr("TestHarness")?
                    .call1((rule.module(py), mocks.to_vec()))?;
                harness.call_method0("enter")?;
                Ok(harness)
            })
            .map_err(|err| describe(py, &err))?;
        Ok(TestIsolation { harness })
    }

    /// Restores the module and the output streams; returns what the test printed.
    pub(crate) fn exit(self, py: Python<'py>) -> Result<String, PythonFailure> {
        self.harness
            .call_method0("exit")
            .and_then(|output| output.extract())
            .map_err(|err| describe(py, &err))
    }
}
