"""The Worker as uploaded: the exact bytes of `worker/src/*.js`, read at run time, and their hash."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from qrsync.settings import ROOT

WORKER_SRC = ROOT / "worker" / "src"
MAIN_MODULE = "index.js"


@dataclasses.dataclass(frozen=True)
class Bundle:
    main_module: str
    modules: dict[str, bytes]
    """Every ES module by file name, the main module included."""

    @property
    def sha256(self) -> str:
        """One hash over names and bytes, so renaming a module changes it too."""
        digest = hashlib.sha256()
        for name in sorted(self.modules):
            digest.update(name.encode() + b"\0" + self.modules[name] + b"\0")
        return digest.hexdigest()


def load_bundle(src: Path = WORKER_SRC) -> Bundle:
    modules = {path.name: path.read_bytes() for path in sorted(src.glob("*.js"))}
    if MAIN_MODULE not in modules:
        raise ValueError(f"worker bundle: {src / MAIN_MODULE} is missing")
    return Bundle(main_module=MAIN_MODULE, modules=modules)
