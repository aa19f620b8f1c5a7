//! The event as Python rules see it: a lazy, read-only mapping over the Rust event.
//!
//! Panther hands rules an immutable, case-insensitive dictionary built from the whole
//! decoded event. Corvid hands them an [`EventView`] instead: a Python object that holds
//! the event's shared JSON object (an `Arc`, never copied) and a path into it, and
//! converts a value only when a rule reads it. A rule that looks at two fields of a
//! two-hundred-field CloudTrail record pays for two conversions.
//!
//! Semantics, those of panther-core's `ImmutableCaseInsensitiveDict`:
//! * key lookup tries the exact key first, then a case-insensitive match (if several keys
//!   differ only in case, the first in the object's key order wins);
//! * `get(key, default=None)`; `view[key]` raises `KeyError` when absent; `in`, `len`,
//!   iteration and `keys()`/`values()`/`items()` as for a `dict`;
//! * `deep_get(*keys, default=None)` descends through nested objects and returns
//!   `default` when a key is missing, an intermediate value is not an object, or the
//!   value found is `null`;
//! * nested objects are returned as views (same `Arc`, longer path); arrays as `list`s
//!   of converted values, their objects again views; scalars as `None`, `bool`, `int`,
//!   `float`, `str`. A returned list is the rule's own copy: changing it cannot change
//!   the event, so the view stays read-only;
//! * `to_dict()` returns a deep, mutable copy of plain `dict`s and `list`s;
//! * a view equals another view over an equal object and any `Mapping` with equal items;
//!   like a `dict`, it is not hashable. It is registered as a `collections.abc.Mapping`.
//!
//! Panther's event methods beyond a `dict`'s:
//! * `deep_walk(*keys, default=None, return_val="all")`: like `deep_get`, but descends
//!   into lists too, collecting the distinct values found (`"first"`, `"last"` or `"all"`:
//!   one value if there is one, else the list);
//! * `udm(*keys, default=None)`: one key mapped by the data model of the event's log type
//!   (a JSONPath `Path`, exactly one match, or a `Method` of the data model's module);
//!   otherwise `p_udm.<keys>`, then the raw `<keys>`, then `default`;
//! * `lookup(table, key)`: the enrichment `p_enrichment[table][key]`, or `None`. In unit
//!   tests (as in `pat test`) the test event's `_mocked_lookup_data_[table][key]` instead;
//! * `event_time_epoch()`: `p_event_time` as UTC epoch seconds, 0 when it does not parse.
//!
//! Invariant: `path` always leads from `root` to an object. It is built only by this
//! module, from steps taken through the same immutable `root`, so it cannot dangle.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use pyo3::exceptions::{PyException, PyKeyError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use serde_json::{Map, Value};

use super::jsonpath::{JsonPath, Step};
use crate::event::Event;

/// A loaded data model: unified field names for the events of its log types.
pub(crate) struct DataModel {
    pub(crate) id: String,
    pub(crate) paths: HashMap<String, JsonPath>,
    pub(crate) methods: HashMap<String, Py<PyAny>>,
}

impl std::fmt::Debug for DataModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataModel").field("id", &self.id).finish()
    }
}

/// What a view knows besides the event: its data model, and whether it is a unit test's.
#[derive(Debug, Default)]
pub(crate) struct ViewContext {
    pub(crate) data_model: Option<Arc<DataModel>>,
    pub(crate) test_mode: bool,
}

fn default_context() -> &'static Arc<ViewContext> {
    static DEFAULT: OnceLock<Arc<ViewContext>> = OnceLock::new();
    DEFAULT.get_or_init(|| Arc::new(ViewContext::default()))
}

/// The context of a unit test's event without a data model.
pub(crate) fn test_context() -> &'static Arc<ViewContext> {
    static TEST: OnceLock<Arc<ViewContext>> = OnceLock::new();
    TEST.get_or_init(|| {
        Arc::new(ViewContext {
            data_model: None,
            test_mode: true,
        })
    })
}

/// A read-only view of one JSON object inside an event, exposed to Python.
#[pyclass(frozen, mapping, module = "corvid", name = "EventView")]
#[derive(Debug)]
pub struct EventView {
    root: Arc<Map<String, Value>>,
    path: Vec<Step>,
    context: Arc<ViewContext>,
}

impl EventView {
    /// A Python view of the whole event. The first call in a process also registers
    /// the class as a `collections.abc.Mapping`.
    pub fn bind<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, EventView>> {
        EventView::bind_with(py, event, default_context())
    }

    /// A view of the whole event with a data model (and test mode) attached.
    pub(crate) fn bind_with<'py>(
        py: Python<'py>,
        event: &Event,
        context: &Arc<ViewContext>,
    ) -> PyResult<Bound<'py, EventView>> {
        static REGISTERED: PyOnceLock<()> = PyOnceLock::new();
        REGISTERED.get_or_try_init(py, || {
            mapping_type(py)?.call_method1("register", (py.get_type::<EventView>(),))?;
            Ok::<_, PyErr>(())
        })?;
        let view = EventView {
            root: event.shared_fields(),
            path: Vec::new(),
            context: Arc::clone(context),
        };
        Bound::new(py, view)
    }

    /// The object this view shows; `None` only if the module invariant were broken.
    fn object(&self) -> Option<&Map<String, Value>> {
        let Some((first, rest)) = self.path.split_first() else {
            return Some(&self.root);
        };
        let Step::Key(key) = first else {
            return None;
        };
        let mut value = self.root.get(key)?;
        for step in rest {
            value = match step {
                Step::Key(key) => value.as_object()?.get(key)?,
                Step::Index(index) => value.as_array()?.get(*index)?,
            };
        }
        value.as_object()
    }

    fn checked_object(&self) -> PyResult<&Map<String, Value>> {
        self.object()
            .ok_or_else(|| PyRuntimeError::new_err("event view lost its object"))
    }

    /// A view of the object at `path` below the same root.
    fn nested(&self, path: Vec<Step>) -> EventView {
        EventView {
            root: Arc::clone(&self.root),
            path,
            context: Arc::clone(&self.context),
        }
    }

    /// Converts `value`, found at `path`, for Python: objects become views.
    fn convert<'py>(
        &self,
        py: Python<'py>,
        value: &Value,
        path: Vec<Step>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match value {
            Value::Object(_) => Ok(Bound::new(py, self.nested(path))?.into_any()),
            Value::Array(items) => {
                let list = PyList::empty(py);
                for (index, item) in items.iter().enumerate() {
                    let mut item_path = path.clone();
                    item_path.push(Step::Index(index));
                    list.append(self.convert(py, item, item_path)?)?;
                }
                Ok(list.into_any())
            }
            scalar => scalar_to_py(py, scalar),
        }
    }

    /// The entry a Python key names in this view's object; non-`str` keys name nothing.
    fn find(&self, key: &Bound<'_, PyAny>) -> PyResult<Option<(&String, &Value)>> {
        let object = self.checked_object()?;
        Ok(key
            .cast::<PyString>()
            .ok()
            .and_then(|key| key.to_str().ok().and_then(|key| lookup(object, key))))
    }

    /// Converts the value under `key` of this view's object.
    fn convert_entry<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        value: &Value,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut path = self.path.clone();
        path.push(Step::Key(key.to_string()));
        self.convert(py, value, path)
    }
}

/// Finds `key` in `object`: the exact key, else the first key equal ignoring case.
fn lookup<'a>(object: &'a Map<String, Value>, key: &str) -> Option<(&'a String, &'a Value)> {
    if let Some(entry) = object.get_key_value(key) {
        return Some(entry);
    }
    // Compared character by character so that a miss allocates nothing.
    let folded = |text: &'a str| text.chars().flat_map(char::to_lowercase);
    object
        .iter()
        .find(|(candidate, _)| folded(candidate).eq(key.chars().flat_map(char::to_lowercase)))
}

/// Epoch seconds of a timestamp as Panther writes `p_event_time` (UTC unless it says
/// otherwise).
fn epoch_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.fZ",
        "%Y-%m-%dT%H:%M:%S%.fZ",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(time) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc().timestamp())
}

/// `collections.abc.Mapping`, imported once.
pub(crate) fn mapping_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static MAPPING: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    MAPPING.import(py, "collections.abc", "Mapping")
}

fn scalar_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => flag.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(number) => {
            if let Some(n) = number.as_i64() {
                n.into_pyobject(py)?.into_any()
            } else if let Some(n) = number.as_u64() {
                n.into_pyobject(py)?.into_any()
            } else {
                number
                    .as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(_) | Value::Object(_) => plain_to_py(py, value)?,
    })
}

/// Deep conversion to plain `dict`/`list` objects, for `to_dict()`.
pub(crate) fn plain_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Value::Object(object) => Ok(object_to_dict(py, object)?.into_any()),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(plain_to_py(py, item)?)?;
            }
            Ok(list.into_any())
        }
        scalar => scalar_to_py(py, scalar),
    }
}

fn object_to_dict<'py>(
    py: Python<'py>,
    object: &Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in object {
        dict.set_item(key, plain_to_py(py, value)?)?;
    }
    Ok(dict)
}

#[pymethods]
impl EventView {
    /// Views compare like dicts, and dicts are not hashable.
    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.find(key)? {
            Some((key, value)) => self.convert_entry(py, key, value),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.find(key)? {
            Some((key, value)) => self.convert_entry(py, key, value),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.find(key)?.is_some())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(self.checked_object()?.len())
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.keys(py)?.try_iter()?.into_any())
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.checked_object()?.keys())
    }

    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (key, value) in self.checked_object()? {
            list.append(self.convert_entry(py, key, value)?)?;
        }
        Ok(list)
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (key, value) in self.checked_object()? {
            let value = self.convert_entry(py, key, value)?;
            list.append(PyTuple::new(
                py,
                [PyString::new(py, key).into_any(), value],
            )?)?;
        }
        Ok(list)
    }

    #[pyo3(signature = (*keys, default = None))]
    fn deep_get<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fallback = || default.clone().unwrap_or_else(|| py.None().into_bound(py));
        let mut path = self.path.clone();
        let mut object = self.checked_object()?;
        let mut found: Option<&Value> = None;
        for (position, key) in keys.iter().enumerate() {
            if position > 0 {
                match found.and_then(Value::as_object) {
                    Some(next) => object = next,
                    None => return Ok(fallback()),
                }
            }
            let Ok(key) = key.cast::<PyString>() else {
                return Ok(fallback());
            };
            let Some((key, value)) = key.to_str().ok().and_then(|key| lookup(object, key)) else {
                return Ok(fallback());
            };
            path.push(Step::Key(key.clone()));
            found = Some(value);
        }
        match found {
            None => Ok(self.nested(path).into_pyobject(py)?.into_any()),
            Some(Value::Null) => Ok(fallback()),
            Some(value) => self.convert(py, value, path),
        }
    }

    #[pyo3(signature = (*keys, default = None, return_val = "all"))]
    fn deep_walk<'py>(
        slf: &Bound<'py, Self>,
        keys: &Bound<'py, PyTuple>,
        default: Option<Bound<'py, PyAny>>,
        return_val: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        super::runtime::support(py)?
            .getattr("deep_walk")?
            .call1((slf, keys, default, return_val))
    }

    #[pyo3(signature = (*keys, default = None))]
    fn udm<'py>(
        slf: &Bound<'py, Self>,
        keys: &Bound<'py, PyTuple>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        if let (1, Some(model)) = (keys.len(), &this.context.data_model) {
            let key = keys.get_item(0)?;
            if let Ok(name) = key.cast::<PyString>() {
                let name = name.to_str()?;
                if let Some(path) = model.paths.get(name) {
                    let found = path.find(this.checked_object()?);
                    return match found.as_slice() {
                        [] => Ok(default),
                        [(steps, value)] => {
                            let mut full = this.path.clone();
                            full.extend(steps.iter().cloned());
                            this.convert(py, value, full)
                        }
                        _ => Err(PyException::new_err(format!(
                            "JSONPath [{path}] in DataModel [{}], matched multiple fields.",
                            model.id
                        ))),
                    };
                }
                if let Some(method) = model.methods.get(name) {
                    return method.bind(py).call1((slf,));
                }
            }
        }
        let mut nested = vec![PyString::new(py, "p_udm").into_any()];
        nested.extend(keys.iter());
        let found = this.deep_get(py, &PyTuple::new(py, nested)?, None)?;
        if found.is_truthy()? {
            return Ok(found);
        }
        let found = this.deep_get(py, keys, None)?;
        if found.is_truthy()? {
            return Ok(found);
        }
        Ok(default)
    }

    fn lookup<'py>(
        &self,
        py: Python<'py>,
        table: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let source = if self.context.test_mode {
            "_mocked_lookup_data_"
        } else {
            "p_enrichment"
        };
        let keys = PyTuple::new(
            py,
            [
                PyString::new(py, source).into_any(),
                table.clone(),
                key.clone(),
            ],
        )?;
        self.deep_get(py, &keys, None)
    }

    #[pyo3(signature = (force_utc = true))]
    fn event_time_epoch(&self, force_utc: bool) -> PyResult<i64> {
        let _ = force_utc;
        let time = lookup(self.checked_object()?, "p_event_time")
            .and_then(|(_, value)| value.as_str())
            .unwrap_or_default();
        Ok(epoch_seconds(time).unwrap_or(0))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        object_to_dict(py, self.checked_object()?)
    }

    fn __eq__<'py>(
        &self,
        py: Python<'py>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(other) = other.cast::<EventView>() {
            let equal = self.checked_object()? == other.get().checked_object()?;
            return Ok(equal.into_pyobject(py)?.to_owned().into_any());
        }
        if other.is_instance(mapping_type(py)?)? {
            let equal = self.to_dict(py)?.eq(other)?;
            return Ok(equal.into_pyobject(py)?.to_owned().into_any());
        }
        Ok(py.NotImplemented().into_bound(py))
    }

    fn __repr__(&self) -> PyResult<String> {
        let object = self.checked_object()?;
        Ok(format!(
            "EventView({})",
            serde_json::to_string(object).unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use pyo3::types::PyDict;

    use super::*;

    /// Runs each Python statement with `e` bound to a view of `event`.
    fn check(event: serde_json::Value, statements: &[&str]) {
        let serde_json::Value::Object(fields) = event else {
            panic!("fixture must be an object");
        };
        let event = Event::from_fields(fields);
        Python::attach(|py| {
            let locals = PyDict::new(py);
            locals
                .set_item("e", EventView::bind(py, &event).expect("view"))
                .expect("bind e");
            py.run(c"import collections.abc, json", None, Some(&locals))
                .expect("imports");
            for statement in statements {
                let code = CString::new(*statement).expect("statement");
                if let Err(err) = py.run(&code, None, Some(&locals)) {
                    panic!("`{statement}` failed: {err}");
                }
            }
        });
    }

    #[test]
    fn lookup_is_exact_then_case_insensitive() {
        check(
            serde_json::json!({"userName": "alice", "username": "bob", "Region": "eu"}),
            &[
                "assert e['userName'] == 'alice' and e['username'] == 'bob'",
                "assert e['region'] == 'eu' and e.get('REGION') == 'eu'",
                "assert 'rEgIoN' in e and 'zone' not in e and 3 not in e",
                "assert e.get('zone') is None and e.get('zone', 'x') == 'x'",
                "try:\n    e['zone']\n    raise AssertionError('no KeyError')\nexcept KeyError as err:\n    assert err.args == ('zone',)",
            ],
        );
    }

    #[test]
    fn deep_get_returns_default_on_missing_null_and_non_objects() {
        check(
            serde_json::json!({"a": {"B": {"c": 1, "n": null}}, "s": "text"}),
            &[
                "assert e.deep_get('a', 'b', 'c') == 1",
                "assert e.deep_get('a', 'B', 'n') is None",
                "assert e.deep_get('a', 'B', 'n', default='d') == 'd'",
                "assert e.deep_get('a', 'x', 'c', default='d') == 'd'",
                "assert e.deep_get('s', 'c', default='d') == 'd'",
                "assert e.deep_get('a', 'B') == {'c': 1, 'n': None}",
                "assert e.deep_get('a', 'B', 'c', 'deeper', default=0) == 0",
            ],
        );
    }

    #[test]
    fn nested_objects_are_views_and_arrays_lists() {
        check(
            serde_json::json!({
                "columns": {"user": "alice", "pid": 7},
                "tags": ["a", {"k": "v"}, [1, 2.5]],
                "flag": true,
                "big": 18446744073709551615u64
            }),
            &[
                "c = e['columns']",
                "assert type(c).__name__ == 'EventView' and isinstance(c, collections.abc.Mapping)",
                "assert c['USER'] == 'alice' and len(c) == 2 and sorted(c) == ['pid', 'user']",
                "assert c == {'user': 'alice', 'pid': 7} and c != {'user': 'bob', 'pid': 7}",
                "assert e['tags'] == ['a', {'k': 'v'}, [1, 2.5]]",
                "assert e['tags'][1]['K'] == 'v'",
                "assert e['flag'] is True and e['big'] == 2**64 - 1",
                "assert dict(e.items())['flag'] is True and len(e.values()) == 4",
            ],
        );
    }

    #[test]
    fn views_are_read_only_and_to_dict_copies() {
        check(
            serde_json::json!({"tags": ["a"], "o": {"k": 1}}),
            &[
                "e['tags'].append('b')",
                "assert e['tags'] == ['a']",
                "d = e.to_dict(); d['o']['k'] = 2",
                "assert e['o']['k'] == 1 and type(d['o']) is dict",
                "assert json.loads(json.dumps(e.to_dict())) == {'tags': ['a'], 'o': {'k': 1}}",
                "try:\n    e['x'] = 1\n    raise AssertionError('assignable')\nexcept TypeError:\n    pass",
                "try:\n    hash(e)\n    raise AssertionError('hashable')\nexcept TypeError:\n    pass",
            ],
        );
    }
}
