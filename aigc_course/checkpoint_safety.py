"""Why a file that ``torch.load(weights_only=True)`` refused was refused, found without running it.

``pickletools.genops`` walks a pickle's opcodes without executing any of them. A checkpoint written by
:func:`aigc_course.checkpoint.save_checkpoint` imports only torch's tensor-rebuilding functions and
``collections.OrderedDict``; a file whose pickle imports anything else (``os.system``, ``builtins.exec``,
``subprocess.Popen``, ...) is an attack or a foreign object, and is reported as "refused, not executed".
A file with no readable pickle at all (truncated, random bytes, an HTML page) is merely corrupt.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

_SAFE_PREFIXES = ("torch.", "collections.OrderedDict")  # all that save_checkpoint's files import
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "SHORT_BINSTRING", "BINSTRING"}
_MAX_PICKLES = 8  # the legacy (non-zip) torch format is a few pickles one after another


def _pickle_streams(path: Path) -> list[bytes]:
    """The pickle(s) inside a torch file: ``data.pkl`` of a zip checkpoint, else the whole file."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return [archive.read(n) for n in archive.namelist() if n.endswith(".pkl")]
        except (zipfile.BadZipFile, OSError, KeyError):
            return []
    return [path.read_bytes()]


def imported_globals(data: bytes) -> list[str]:
    """Every ``module.name`` the pickle(s) in ``data`` would import, read from the opcodes only."""
    names: list[str] = []
    stream = io.BytesIO(data)
    for _ in range(_MAX_PICKLES):
        if stream.tell() >= len(data):
            break
        strings: list[str] = []
        try:
            for op, arg, _pos in pickletools.genops(stream):
                if op.name in _STRINGS:
                    strings.append(str(arg))
                elif op.name in ("GLOBAL", "INST"):
                    names.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
        except Exception:  # not (or no longer) a pickle: what was read so far is all there is
            break
    return names


def refusal_reason(path: str | Path) -> str | None:
    """``"it would import os.system"`` when the file's pickle imports something a checkpoint never
    does; None when it does not (the file is then corrupt, truncated or not a torch file)."""
    try:
        streams = _pickle_streams(Path(path))
    except OSError:
        return None
    foreign = [n for data in streams for n in imported_globals(data) if not n.startswith(_SAFE_PREFIXES)]
    if not foreign:
        return None
    return "it would import " + ", ".join(dict.fromkeys(foreign[:5]))
