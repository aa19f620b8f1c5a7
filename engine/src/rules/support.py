"""Corvid's rule runtime, Python side (engine/src/rules/runtime.rs embeds this file).

What is easier said in Python than through the C API: importing detection files as
modules, resolving `import <GlobalID>` to a global helper's file, describing an
exception by its last traceback frame, serialising alert context, and isolating a
unit test (mocks, captured output). Nothing here runs per event except `dump_context`
and `describe` on the paths that need them.
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


class FunctionReturnTypeError(Exception):
    """A detection function returned a value of the wrong type (panther-core's name)."""


class _GlobalHelpers(importlib.abc.MetaPathFinder):
    """Finds global helpers by GlobalID, wherever their files live."""

    def __init__(self):
        self.files = {}

    def find_spec(self, fullname, path=None, target=None):
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, file)


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
    """Makes each {GlobalID: path} importable, replacing a helper loaded earlier.

    Returns the GlobalIDs that would shadow another module (the standard library's, an
    installed package's); those are not registered.
    """
    clashes = [
        name
        for name in files
        if name not in _GLOBALS.files and _is_other_module(name)
    ]
    for name, file in files.items():
        if name in clashes:
            continue
        sys.modules.pop(name, None)
        _GLOBALS.files[name] = file
    return clashes


def load_module(name, file):
    """Imports `file` as a new module called `name`."""
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _is_machinery(filename):
    return filename.startswith("<frozen ") or filename == __file__


def describe(exc, tb):
    """(class name, str, repr, "<file>, line N, in <func>" or None) of an exception.

    The location is the last traceback frame outside the import machinery and this file,
    so an import failure points at the detection's line, not at importlib.
    """
    frames = [
        frame
        for frame in traceback.extract_tb(tb)
        if not _is_machinery(frame.filename)
    ]
    location = None
    if frames:
        last = frames[-1]
        location = f"{os.path.basename(last.filename)}, line {last.lineno}, in {last.name}"
    return type(exc).__name__, str(exc), repr(exc), location


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
