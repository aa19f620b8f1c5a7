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
//! Invariant: `path` always leads from `root` to an object. It is built only by this
//! module, from steps taken through the same immutable `root`, so it cannot dangle.

use std::sync::Arc;

use pyo3::exceptions::{PyKeyError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};
use serde_json::{Map, Value};

use crate::event::Event;

/// One step from an object to a nested value.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// A read-only view of one JSON object inside an event, exposed to Python.
#[pyclass(frozen, mapping, module = "corvid", name = "EventView")]
#[derive(Debug)]
pub struct EventView {
    root: Arc<Map<String, Value>>,
    path: Vec<Step>,
}

impl EventView {
    /// A Python view of the whole event. The first call in a process also registers
    /// the class as a `collections.abc.Mapping`.
    pub fn bind<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, EventView>> {
        static REGISTERED: PyOnceLock<()> = PyOnceLock::new();
        REGISTERED.get_or_try_init(py, || {
            mapping_type(py)?.call_method1("register", (py.get_type::<EventView>(),))?;
            Ok::<_, PyErr>(())
        })?;
        let view = EventView {
            root: event.shared_fields(),
            path: Vec::new(),
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
fn plain_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
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
