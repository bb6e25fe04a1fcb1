# SPDX-License-Identifier: MIT
"""Builds mmarr._mmarr for pip (see pyproject.toml): the binding's C files and libmmarr's,
compiled together into one extension linked with the system's libzstd and libxxhash, exactly
the sources CMake builds (their lists are read from the CMakeLists.txt files, kept there
once). The version is mmarr.h's MMARR_VERSION_STRING."""
import os
import re
import shlex
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def _read(*parts):
    with open(os.path.join(HERE, *parts), encoding="utf-8") as f:
        return f.read()


def _cmake_list(text, pattern, where):
    """The source files a CMake command lists (`pattern` matches up to the list)."""
    m = re.search(pattern + r"(.*?)\)", text, re.S)
    if not m:
        sys.exit(f"setup.py: cannot find the source list in {where}")
    return [w for w in m.group(1).split() if w.endswith(".c")]


def _sources():
    lib = _read("libmmarr", "CMakeLists.txt")
    py = _read("python", "CMakeLists.txt")
    out = [os.path.join("libmmarr", s)
           for s in _cmake_list(lib, r"add_library\(mmarr_common OBJECT", "libmmarr")]
    out += [os.path.join("libmmarr", s)
            for s in _cmake_list(lib, r"set\(MMARR_SOURCES", "libmmarr")]
    out += [os.path.join("python", s)
            for s in _cmake_list(py, r"Python3_add_library\(mmarr_python MODULE WITH_SOABI",
                                 "python")]
    return out


def _version():
    m = re.search(r'#define MMARR_VERSION_STRING "([^"]+)"',
                  _read("libmmarr", "include", "mmarr.h"))
    return m.group(1)


def _pkg_config(*args):
    try:
        return shlex.split(subprocess.run(["pkg-config", *args], check=True,
                                          capture_output=True, text=True).stdout)
    except (OSError, subprocess.CalledProcessError):
        return None


class BuildExt(build_ext):
    """numpy's headers, pkg-config's flags for libzstd and libxxhash when it has them, and
    libxxhash's run-time dispatched XXH3 where the library exports it (as CMake does)."""

    def build_extensions(self):
        import numpy
        ext = self.extensions[0]
        ext.include_dirs.append(numpy.get_include())
        cflags = _pkg_config("--cflags", "libzstd", "libxxhash") or []
        libs = _pkg_config("--libs", "libzstd", "libxxhash") or ["-lzstd", "-lxxhash"]
        ext.extra_compile_args += cflags
        ext.libraries += [a[2:] for a in libs if a.startswith("-l")]
        ext.library_dirs += [a[2:] for a in libs if a.startswith("-L")]
        if self.compiler.has_function("XXH3_64bits_dispatch", includes=["xxh_x86dispatch.h"],
                                      libraries=["xxhash"]):
            ext.define_macros.append(("MMARR_HAVE_XXH_DISPATCH", None))
        super().build_extensions()


setup(
    version=_version(),
    ext_modules=[Extension(
        "mmarr._mmarr",
        sources=_sources(),
        include_dirs=["libmmarr/include", "libmmarr/src", "libmmarr/common", "format"],
        define_macros=[("_GNU_SOURCE", None), ("MMARR_STATIC_DEFINE", None)],
        extra_compile_args=["-std=c11", "-fvisibility=hidden", "-pthread"],
        extra_link_args=["-pthread"],
    )],
    cmdclass={"build_ext": BuildExt},
)
