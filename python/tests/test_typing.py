# SPDX-License-Identifier: MIT
"""The package's type information (py.typed, __init__.pyi) and docstrings match the API."""
import ast
import inspect
import os

import mmarr

PKG = os.path.dirname(mmarr.__file__)


def _stub():
    with open(os.path.join(PKG, "__init__.pyi"), encoding="utf-8") as f:
        return ast.parse(f.read())


def _params(fn):
    a = fn.args
    names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
    if a.vararg:
        names.append("*" + a.vararg.arg)
    if a.kwarg:
        names.append("**" + a.kwarg.arg)
    return [n for n in names if n != "self"]


def _real_params(obj):
    out = []
    for p in inspect.signature(obj).parameters.values():
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        out.append(prefix + p.name)
    return [n for n in out if n != "self"]


def test_py_typed_is_installed_with_the_stub():
    assert os.path.exists(os.path.join(PKG, "py.typed"))
    assert os.path.exists(os.path.join(PKG, "__init__.pyi"))


def test_stub_names_every_public_name_with_its_parameters():
    tree = _stub()
    top = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert set(mmarr.__all__) <= set(top), set(mmarr.__all__) - set(top)
    for name in mmarr.__all__:
        node, obj = top[name], getattr(mmarr, name)
        if isinstance(node, ast.FunctionDef):
            assert _params(node) == _real_params(obj), name
            continue
        for item in node.body:
            if not isinstance(item, ast.FunctionDef):
                continue
            assert hasattr(obj, item.name), f"{name}.{item.name}"
            real = getattr(obj, item.name)
            if any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list):
                assert isinstance(inspect.getattr_static(obj, item.name), property)
            elif item.name != "__init__" or "__init__" in vars(obj):
                assert _params(item) == _real_params(real), f"{name}.{item.name}"


def test_public_names_have_docstrings():
    for name in mmarr.__all__:
        doc = inspect.getdoc(getattr(mmarr, name))
        assert doc and len(doc) > 20, name
    assert "mode" in inspect.getdoc(mmarr.open)
