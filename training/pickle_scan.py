"""Which Python objects a torch checkpoint's pickle would build, read without unpickling it. Torch-free.

The launcher and the dashboard's Check look at a `pretrained` file before any job starts: a pickle that
names anything but tensors and plain containers (e.g. `os.system` in a `__reduce__`, or a whole model's
class) is refused at once, with the same one line the job's weights-only load would give
(training/safe_load.py, which stays the rule that holds: this scan only says it earlier). `pickletools.genops`
decodes opcodes without executing any of them.
"""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

# What torch.save writes for a state dict (tensors, their storages and dtypes, ordered dicts) and what
# torch's weights-only unpickler accepts of the standard library. Anything else is not weights.
_PLAIN = {
    ("collections", "OrderedDict"), ("collections", "Counter"), ("_codecs", "encode"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "bytearray"),
    ("__builtin__", "set"), ("__builtin__", "frozenset"), ("__builtin__", "complex"),  # protocol 2's names
    ("torch", "Size"), ("torch", "device"),
    ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch._utils", "_rebuild_device_tensor_from_numpy"), ("torch._utils", "_rebuild_meta_tensor_no_storage"),
    ("torch.storage", "UntypedStorage"), ("torch.storage", "TypedStorage"), ("torch.storage", "_load_from_bytes"),
}
_DTYPES = {"float64", "float32", "float16", "bfloat16", "double", "float", "half", "int64", "int32", "int16", "int8",
           "uint8", "uint16", "uint32", "uint64", "long", "int", "short", "bool", "complex64", "complex128", "cfloat",
           "cdouble", "float8_e4m3fn", "float8_e5m2"}
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}


def plain(module: str, name: str) -> bool:
    return (module, name) in _PLAIN or (module == "torch" and (name in _DTYPES or name.endswith("Storage")))


def foreign_globals(path: Path) -> list[str]:
    """'module.name' of every object the file's pickle(s) would import that is not plain weights; ['?'] when a
    reference cannot be read statically. [] for a weights-only file (and for safetensors, which has no pickle)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head == b"PK\x03\x04":
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                with archive.open(name) as pkl:
                    return _scan(pkl, 1)
        handle.seek(0)
        return _scan(handle, 4)  # the legacy format: magic number, protocol, sys info, then the object


def _scan(stream, pickles: int) -> list[str]:
    found: list[str] = []
    for _ in range(pickles):
        recent: list[str | None] = []  # what the last pushes were, where they were strings
        memo: dict[int, str | None] = {}
        for op, arg, _pos in pickletools.genops(stream):
            if op.name in _STRINGS:
                recent.append(arg if isinstance(arg, str) else None)
            elif op.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                if not plain(module, name):
                    found.append(f"{module}.{name}")
            elif op.name == "STACK_GLOBAL":
                module, name = (recent[-2], recent[-1]) if len(recent) >= 2 else (None, None)
                if module is None or name is None:
                    found.append("?")
                elif not plain(module, name):
                    found.append(f"{module}.{name}")
            elif op.name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = recent[-1] if recent else None
            elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(int(arg)))
            elif op.name in ("EXT1", "EXT2", "EXT4", "OBJ"):
                found.append("?")  # an object built from the copyreg registry or the stack: not weights
            elif op.name not in ("PROTO", "FRAME", "STOP", "MARK"):
                recent.append(None)
    return found
