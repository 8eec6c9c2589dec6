"""
Exact allocation counts by size, without a tracer: builds and loads ``_alloccount.c``.

``load()`` compiles the module once into a cache directory (the C compiler CPython was built
with, from ``sysconfig``) and imports it. ``window()`` counts around a block::

    counter = load()
    counter.start(); ...; counter.stop()
    counts, nbytes = counter.result()   # {(domain, size): n}, {domain: bytes}

Domains: 0 = objects (PyObject_Malloc), 1 = PyMem_Malloc, 2 = raw (PyMem_RawMalloc; pymalloc
forwards requests above 512 B of the other two domains here: they appear twice).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

DOMAINS = ("obj", "mem", "raw")
SOURCE = Path(__file__).with_name("_alloccount.c")


def load() -> ModuleType:
    """Compile (once, cached by source hash and interpreter) and import ``_alloccount``."""
    source = SOURCE.read_bytes()
    tag = hashlib.sha256(source + sysconfig.get_config_var("SOABI").encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "fastws-profiling"
    cache.mkdir(exist_ok=True)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    target = cache / f"_alloccount-{tag}{suffix}"
    if not target.exists():
        cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
        include = sysconfig.get_paths()["include"]
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        cmd = [*cc, "-O2", "-shared", "-fPIC", f"-I{include}", str(SOURCE), "-o", str(tmp)]
        subprocess.run(cmd, check=True)
        tmp.replace(target)
    spec = importlib.util.spec_from_file_location("_alloccount", target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_unit(counts: dict[tuple[int, int], int], units: int, floor: float = 0.01) -> list[str]:
    """Rows "domain size count-per-unit", largest count first, for counts >= floor per unit."""
    rows = []
    for (domain, size), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if n / units >= floor:
            label = f"{size} B" if size >= 0 else "> 4096 B"
            rows.append(f"  {DOMAINS[domain]:>3} {label:>10} {n / units:8.3f}")
    return rows
