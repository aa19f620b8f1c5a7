"""Corvid's rule runtime, Python side (engine/src/rules/runtime.rs embeds this file).

What is easier said in Python than through the C API: importing detection files as
modules, resolving `import <GlobalID>` to a global helper's file, describing an
exception by its last traceback frame, `deep_walk`, serialising alert context, and
isolating a unit test (mocks, captured output). Nothing here runs per event except
`dump_context`, `deep_walk` and `describe` on the paths that need them.

Modules are compiled from the file's current text on every load (no bytecode cache),
so a load always sees what is on disk, even for a file rewritten within the same
second.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import os
import sys
import traceback
import unittest.mock
from collections.abc import Mapping, Sequence


class FunctionReturnTypeError(Exception):
    """A detection function returned a value of the wrong type (panther-core's name)."""


class RuleTimeout(TimeoutError):
    """Raised inside a detection function that ran longer than the rule timeout."""


class _SourceLoader(importlib.abc.Loader):
    """Executes a Python file from its current source text."""

    def __init__(self, file):
        self.file = file

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self.file, "rb") as handle:
            source = handle.read()
        code = compile(source, self.file, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - running detections is the point


def _spec(name, file):
    file = os.fspath(file)
    spec = importlib.util.spec_from_loader(name, _SourceLoader(file), origin=file)
    spec.has_location = True
    return spec


class _GlobalHelpers(importlib.abc.MetaPathFinder):
    """Finds global helpers by GlobalID, wherever their files live."""

    def __init__(self):
        self.files = {}

    def find_spec(self, fullname, path=None, target=None):
        file = self.files.get(fullname)
        if file is None:
            return None
        return _spec(fullname, file)


_GLOBALS = _GlobalHelpers()
sys.meta_path.insert(0, _GLOBALS)

_VIEW_TYPE = None


def register_view_type(view_type):
    """Lets alert context serialise the Rust event view."""
    global _VIEW_TYPE
    _VIEW_TYPE = view_type


def _is_other_module(name):
    """Whether `name` is already a module: imported, built in, or on sys.path."""
    return (
        name in sys.modules
        or name in sys.builtin_module_names
        or importlib.machinery.PathFinder.find_spec(name) is not None
    )


def register_globals(files):
    """Makes exactly the {GlobalID: path} of a new load importable.

    Every helper of earlier loads is dropped from sys.modules, so the next import runs
    the file as it is now; rules imported earlier keep the module objects they bound.
    Returns the GlobalIDs that would shadow another module (the standard library's, an
    installed package's); those are not registered.
    """
    clashes = [
        name
        for name in files
        if name not in _GLOBALS.files and _is_other_module(name)
    ]
    for name in list(_GLOBALS.files) + list(files):
        if name not in clashes:
            sys.modules.pop(name, None)
    _GLOBALS.files = {name: file for name, file in files.items() if name not in clashes}
    return clashes


def load_module(name, file):
    """Imports `file` as a new module called `name` (not left in sys.modules)."""
    spec = _spec(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _is_machinery(filename):
    return filename.startswith("<frozen ") or filename == __file__


def describe(exc, tb):
    """(class, str, repr, "<file>, line N, in <func>" or None, path or None, line or None).

    The location is the last traceback frame outside the import machinery and this file,
    so an import failure points at the detection's line, not at importlib; a
    SyntaxError's location is the offending line itself.
    """
    frames = [
        frame
        for frame in traceback.extract_tb(tb)
        if not _is_machinery(frame.filename)
    ]
    location = path = line = None
    if isinstance(exc, SyntaxError) and exc.filename:
        # str(exc) already says "(<file>, line N)".
        path, line = exc.filename, exc.lineno
    elif frames:
        last = frames[-1]
        path, line = last.filename, last.lineno
        location = f"{os.path.basename(path)}, line {line}, in {last.name}"
    return type(exc).__name__, str(exc), repr(exc), location, path, line


def _is_list(value):
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _all_empty(value):
    return _is_list(value) and all(_all_empty(item) for item in value)


def _walk(value, keys, default, return_val):
    if not keys:
        return default if value is None or _all_empty(value) else value
    if isinstance(value, Mapping):
        return _walk(value.get(keys[0], default), keys[1:], default, return_val)
    found = {}
    if _is_list(value):
        for item in value:
            result = _walk(item, keys, default, return_val)
            if result is None:
                continue
            for one in result if _is_list(result) else [result]:
                found[one] = None
    values = list(found)
    if not values:
        return default
    if return_val == "first":
        return values[0]
    if return_val == "last":
        return values[-1]
    if return_val == "all":
        return values[0] if len(values) == 1 else values
    return "all"  # panther-core answers an unknown return_val with this string


def deep_walk(view, keys, default, return_val):
    """panther-core's deep_walk: like deep_get, but also through lists, de-duplicated."""
    return _walk(view, tuple(keys), default, return_val)


def _unwrap(value):
    if _VIEW_TYPE is not None and isinstance(value, _VIEW_TYPE):
        return value.to_dict()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dump_context(value):
    """JSON text of an alert_context() result; event views are serialised as dicts."""
    return json.dumps(value, default=_unwrap, allow_nan=False)


class TestHarness:
    """Mocks and captured output for one unit test of one detection module."""

    def __init__(self, module, mocks):
        self._module = module
        self._mocks = {
            name: unittest.mock.MagicMock(return_value=json.loads(value))
            for name, value in mocks
        }
        self._patcher = None
        self._output = io.StringIO()
        self._streams = None

    def enter(self):
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout = sys.stderr = self._output
        if self._mocks:
            patcher = unittest.mock.patch.multiple(self._module, **self._mocks)
            try:
                patcher.start()
            except BaseException:
                self.exit()
                raise
            self._patcher = patcher

    def exit(self):
        """Undoes enter(); returns what the test printed."""
        if self._patcher is not None:
            self._patcher.stop()
            self._patcher = None
        if self._streams is not None:
            sys.stdout, sys.stderr = self._streams
            self._streams = None
        return self._output.getvalue()
