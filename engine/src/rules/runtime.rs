//! The embedded CPython side of a rule set: importing detections and calling them.
//!
//! ```text
//!   Catalog (YAML) ──load()──▶ globals registered by GlobalID, each imported once
//!                              rules imported as `corvid_rule_<n>_<stem>` ──▶ PythonRule
//!   PythonRule ──matches(view)──▶ Ok(bool) | Err(PythonFailure)
//!              ──auxiliaries(view)──▶ Auxiliaries (raw results, defaults applied in `outcome`)
//! ```
//!
//! **Interpreter-wide state.** There is one interpreter per process, so a global helper
//! is one entry of `sys.modules` for the whole process: loading a second rule set with
//! a global of the same `GlobalID` replaces it for rules imported afterwards (rules
//! already imported keep the module they bound). Loads are serialised by a lock taken
//! in a way that cannot deadlock with the GIL. A `GlobalID` that would shadow another
//! module (the standard library's `json`, an installed package) is refused.
//!
//! **Module names.** Each rule's file is imported under a process-unique name, so two
//! rules whose files share a stem (or two loads of the same directory) never clash.
//!
//! **Return types.** As in panther-core, a function returning the wrong type is a failure
//! of that function (`FunctionReturnTypeError`): `rule` must return exactly a `bool`;
//! `title`, `dedup`, `severity`, `description`, `reference` and `runbook` a `str`;
//! `alert_context` a `Mapping`; `destinations` a `list` of `str` or `None`. A `severity`
//! outside the five levels (and not `DEFAULT`) is an `AssertionError`.

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::PyAssertionError;
use pyo3::prelude::*;
use pyo3::sync::{MutexExt, PyOnceLock};
use pyo3::types::{PyBool, PyDict, PyList, PyString};

use super::event_view::{mapping_type, EventView};
use super::metadata::{Catalog, RuleMeta, Severity, TestSpec};
use super::outcome::{Auxiliaries, PythonFailure, MAX_ALERT_CONTEXT_CHARS};
use super::RuleLoadError;

const SUPPORT_SOURCE: &str = include_str!("support.py");
const SUPPORT_MODULE: &str = "corvid_rules_support";

/// Serialises loads: they change `sys.modules` and the GlobalID finder.
static LOADING: Mutex<()> = Mutex::new(());
/// Makes rule module names unique within the process.
static MODULE_SERIAL: AtomicU64 = AtomicU64::new(0);

/// Corvid's support module (`support.py`), created once per process.
fn support(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
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
            .extract::<(String, String, String, Option<String>)>()
    });
    match described {
        Ok((class, message, repr, location)) => PythonFailure {
            class,
            message,
            repr,
            location,
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

/// The functions a detection module defines; `rule` is mandatory.
struct RuleFunctions {
    rule: Py<PyAny>,
    title: Option<Py<PyAny>>,
    dedup: Option<Py<PyAny>>,
    severity: Option<Py<PyAny>>,
    alert_context: Option<Py<PyAny>>,
    description: Option<Py<PyAny>>,
    reference: Option<Py<PyAny>>,
    runbook: Option<Py<PyAny>>,
    destinations: Option<Py<PyAny>>,
}

/// A detection whose module is imported and ready to run.
pub(crate) struct PythonRule {
    pub(crate) meta: RuleMeta,
    pub(crate) tests: Vec<TestSpec>,
    module: Py<PyModule>,
    functions: RuleFunctions,
}

/// Imports the globals and rules of `catalog`; disabled rules only when asked (tests).
pub(crate) fn load(
    py: Python<'_>,
    catalog: Catalog,
    include_disabled: bool,
) -> Result<Vec<PythonRule>, RuleLoadError> {
    let support =
        support(py).map_err(|err| RuleLoadError::Runtime(describe(py, &err).to_string()))?;
    let _loading = LOADING
        .lock_py_attached(py)
        .unwrap_or_else(PoisonError::into_inner);

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
    if let Some(global) = catalog
        .globals
        .iter()
        .find(|global| clashes.contains(&global.id))
    {
        return Err(RuleLoadError::Invalid {
            file: global.yaml_path.clone(),
            reason: format!(
                "GlobalID `{}` would shadow the Python module of that name",
                global.id
            ),
        });
    }
    for global in &catalog.globals {
        py.import(global.id.as_str()).map_err(|err| {
            let what = format!("global {}", global.id);
            import_error(py, &global.python_path, &what, &err)
        })?;
    }

    let mut rules = Vec::with_capacity(catalog.rules.len());
    for definition in catalog.rules {
        if !definition.meta.enabled && !include_disabled {
            continue;
        }
        let module = import_rule(py, support, &definition.meta)?;
        let functions = rule_functions(&module, &definition.meta)?;
        rules.push(PythonRule {
            meta: definition.meta,
            tests: definition.tests,
            module: module.unbind(),
            functions,
        });
    }
    Ok(rules)
}

fn import_error(py: Python<'_>, python: &Path, what: &str, err: &PyErr) -> RuleLoadError {
    RuleLoadError::Import {
        python: python.to_path_buf(),
        what: what.to_string(),
        reason: describe(py, err).to_string(),
    }
}

fn import_rule<'py>(
    py: Python<'py>,
    support: &Bound<'py, PyModule>,
    meta: &RuleMeta,
) -> Result<Bound<'py, PyModule>, RuleLoadError> {
    let stem: String = meta
        .python_path
        .file_stem()
        .map(|stem| stem.to_string_lossy())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let serial = MODULE_SERIAL.fetch_add(1, Ordering::Relaxed);
    let name = format!("corvid_rule_{serial}_{stem}");
    let what = format!("rule {}", meta.id);
    support
        .getattr("load_module")
        .and_then(|load| load.call1((name, &meta.python_path)))
        .and_then(|module| Ok(module.cast_into::<PyModule>()?))
        .map_err(|err| import_error(py, &meta.python_path, &what, &err))
}

fn rule_functions(
    module: &Bound<'_, PyModule>,
    meta: &RuleMeta,
) -> Result<RuleFunctions, RuleLoadError> {
    let function = |name: &str| {
        module
            .getattr(name)
            .ok()
            .filter(|value| value.is_callable())
            .map(Bound::unbind)
    };
    let Some(rule) = function("rule") else {
        return Err(RuleLoadError::Import {
            python: meta.python_path.clone(),
            what: format!("rule {}", meta.id),
            reason: "the module defines no callable `rule`".to_string(),
        });
    };
    Ok(RuleFunctions {
        rule,
        title: function("title"),
        dedup: function("dedup"),
        severity: function("severity"),
        alert_context: function("alert_context"),
        description: function("description"),
        reference: function("reference"),
        runbook: function("runbook"),
        destinations: function("destinations"),
    })
}

impl PythonRule {
    pub(crate) fn module<'py>(&self, py: Python<'py>) -> &Bound<'py, PyModule> {
        self.module.bind(py)
    }

    /// `rule(event)`, which must return exactly `True` or `False`.
    pub(crate) fn matches(
        &self,
        py: Python<'_>,
        view: &Bound<'_, EventView>,
    ) -> Result<bool, PythonFailure> {
        let result = call(py, &self.functions.rule, view)?;
        match result.cast::<PyBool>() {
            Ok(flag) => Ok(flag.is_true()),
            Err(_) => Err(self.wrong_type(py, "rule", &result, "bool")),
        }
    }

    /// Every auxiliary function the rule defines, called on `view`.
    pub(crate) fn auxiliaries(&self, py: Python<'_>, view: &Bound<'_, EventView>) -> Auxiliaries {
        let functions = &self.functions;
        let text = |function: &Option<Py<PyAny>>, name: &str| {
            function
                .as_ref()
                .map(|function| self.call_for_text(py, function, name, view))
        };
        Auxiliaries {
            title: text(&functions.title, "title"),
            dedup: text(&functions.dedup, "dedup"),
            severity: functions
                .severity
                .as_ref()
                .map(|function| self.severity(py, function, view)),
            alert_context: functions
                .alert_context
                .as_ref()
                .map(|function| self.alert_context(py, function, view)),
            description: text(&functions.description, "description"),
            reference: text(&functions.reference, "reference"),
            runbook: text(&functions.runbook, "runbook"),
            destinations: functions
                .destinations
                .as_ref()
                .map(|function| self.destinations(py, function, view)),
        }
    }

    fn call_for_text(
        &self,
        py: Python<'_>,
        function: &Py<PyAny>,
        name: &str,
        view: &Bound<'_, EventView>,
    ) -> Result<String, PythonFailure> {
        let result = call(py, function, view)?;
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
        view: &Bound<'_, EventView>,
    ) -> Result<Option<Severity>, PythonFailure> {
        let severity = self
            .call_for_text(py, function, "severity", view)?
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
        view: &Bound<'_, EventView>,
    ) -> Result<String, PythonFailure> {
        let result = call(py, function, view)?;
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
        view: &Bound<'_, EventView>,
    ) -> Result<Option<Vec<String>>, PythonFailure> {
        let result = call(py, function, view)?;
        if result.is_none() {
            return Ok(None);
        }
        let Ok(list) = result.cast::<PyList>() else {
            return Err(self.wrong_type(py, "destinations", &result, "list"));
        };
        let mut names = Vec::with_capacity(list.len());
        for item in list.iter() {
            let Ok(name) = item.cast::<PyString>() else {
                return Err(self.wrong_type(py, "destinations", &item, "list of str"));
            };
            names.push(name.to_str().map_err(|err| describe(py, &err))?.to_string());
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

fn call<'py>(
    py: Python<'py>,
    function: &Py<PyAny>,
    view: &Bound<'py, EventView>,
) -> Result<Bound<'py, PyAny>, PythonFailure> {
    function
        .bind(py)
        .call1((view,))
        .map_err(|err| describe(py, &err))
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
