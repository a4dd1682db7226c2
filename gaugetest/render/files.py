"""Writing output files safely: whole or not at all.

A regular-file target is written to a temporary file in the same directory and
renamed over the target, so an interrupted run never leaves a partial file.  A
target that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a
FIFO) is written straight through: renaming a temporary file over a device
would replace it (as root, ``/dev/null`` would become a plain file).
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile

from ..errors import UsageError


def write_text(path: str, text: str, option: str = "--json") -> None:
    """Write ``text`` to ``path`` atomically (``-`` means standard output)."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_bytes(path, text.encode("utf-8"), option)


def _stat(path: str, option: str):
    """os.stat of an output path, None when it does not exist yet; other failures are a usage
    error naming the option."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(option, "a writable file path", f"{path} ({exc.strerror})") from None


def write_bytes(path: str, data: bytes, option: str = "--json") -> None:
    """Write ``data`` to ``path`` atomically; devices and FIFOs straight through."""
    st = _stat(path, option)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageError(option, "a file path, not a directory", path)
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(path, "wb") as fh:  # device or FIFO: straight through, never renamed over
            fh.write(data)
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(option, "a path in an existing directory", path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".gaugetest-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(option, "a writable location", f"{path} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_file_target(path: str, option: str) -> None:
    """Raise UsageError unless ``path`` can be written (checked before any work is done)."""
    st = _stat(path, option)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(option, "a file path, not a directory", path)
        if stat.S_ISREG(st.st_mode) and not os.access(path, os.W_OK):
            raise UsageError(option, "a writable file", path)
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(option, "a path in an existing directory", path)
    if not os.access(directory, os.W_OK):
        raise UsageError(option, "a path in a writable directory", path)


def check_dir_target(path: str, option: str) -> None:
    """Raise UsageError unless ``path`` is a writable directory or can be created as one."""
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise UsageError(option, "a directory", path)
        if not os.access(path, os.W_OK):
            raise UsageError(option, "a writable directory", path)
        return
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise UsageError(option, "a directory that can be created (writable parent)", path)


def make_dir(path: str, option: str) -> None:
    """Create ``path`` (and parents) as a directory; a clear usage error when it cannot be."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(option, "a directory", path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError(option, "a directory that can be created",
                         f"{path} ({exc.strerror or exc})") from None


def safe_folder_name(name: str) -> str:
    """A model's name as one folder name that cannot leave its parent: every character other
    than letters, digits, '.', '-' and '_' (path separators among them) becomes '_', and dots
    and '_' at either end are dropped (no '.', '..' or hidden folder); an empty result is
    'model'.

    Examples
    --------
    >>> safe_folder_name("../esc=1"), safe_folder_name(".."), safe_folder_name("qwen3-32b")
    ('esc_1', 'model', 'qwen3-32b')
    """
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name)).strip("._") or "model"


#: Files a several-model run writes beside the model folders (the family's figure).
RESERVED_PLOT_NAMES = ("family_forest.png", "family_forest.pdf")


def model_folders(names) -> dict[str, str]:
    """{model name: its folder name}; two names that make the same folder, or a folder named
    like the family's figure, are a usage error (one would overwrite the other)."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {f: f"the family's figure {f}" for f in RESERVED_PLOT_NAMES}
    for name in names:
        folder = safe_folder_name(name)
        if folder in seen and seen[folder] != name:
            raise UsageError("--model", "model names that make distinct folder names under "
                             f"--plot ({seen[folder]!r} and {name!r} both become {folder!r})")
        seen[folder] = name
        out[name] = folder
    return out
