# SPDX-License-Identifier: MIT
"""Run a function once another module is imported, without importing it.

Optional integrations follow their library's conventions (distributed's serialization
registry) but `import mmarr` must not import those libraries. `after_import(name, fn)` calls
fn() now if `name` is already imported, else right after its import completes: a finder on
sys.meta_path wraps that one module's loader, then removes itself. Errors in fn are reported
as warnings, never raised into the importing code.
"""
import sys
import warnings


def _run(name, fn):
    try:
        fn()
    except Exception as e:  # an integration must never break the import of its library
        warnings.warn(f"mmarr: integration with {name} failed: {e!r}", RuntimeWarning,
                      stacklevel=2)


class _Loader:  # the loader protocol (no importlib.abc: it costs ms to import)
    def __init__(self, loader, name, fns):
        self._loader, self._name, self._fns = loader, name, fns

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        for fn in self._fns:
            _run(self._name, fn)


class _Finder:  # the meta path finder protocol
    def __init__(self):
        self.pending = {}  # module name -> functions to run after its import

    def find_spec(self, fullname, path, target=None):
        fns = self.pending.pop(fullname, None)
        if fns is None:
            return None
        if not self.pending:
            sys.meta_path.remove(self)
        spec = None
        for finder in sys.meta_path:  # the finders that would have found it, in order
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, fullname, fns)
        return spec


_finder = _Finder()


def after_import(name, fn):
    """fn() once module `name` (a top-level module on sys.path) is imported."""
    if name in sys.modules:
        _run(name, fn)
        return
    _finder.pending.setdefault(name, []).append(fn)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
