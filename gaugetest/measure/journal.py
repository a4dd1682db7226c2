"""Resumable runs: each finished task saved at once, atomically, beside the output prefix.

``PREFIX.partial/`` holds ``manifest.json`` (the settings, the checkpoint's identity and the
gaugetest version: the key of the run) and one small JSON file per finished task, written to a
temporary file, flushed, fsynced and renamed into place, so a crash, Ctrl-C or SIGKILL leaves
either the whole result of a task or nothing.  Floats are written with ``repr`` precision, so a
resumed run assembles exactly the numbers an uninterrupted run would have had and writes
byte-identical files.  The directory is removed once both output files are written.

The checkpoint's identity is, per file, its name, size, modification time and the sha256 of its
first and last MiB (headers and the end of the data) -- enough to notice a different or
rewritten checkpoint without hashing tens of GB.

Examples
--------
>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> j = Journal(os.path.join(d, "run.partial"), {"seed": 0})
>>> j.open(fresh=False)
{}
>>> j.save("q_proj@0", {"q_proj": {"cos": 0.5}})
>>> Journal(os.path.join(d, "run.partial"), {"seed": 0}).open(fresh=False)
{'q_proj@0': {'q_proj': {'cos': 0.5}}}
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from .._version import __version__
from ..errors import UsageError

FORMAT = "gaugetest measure partial results 1"
_EDGE = 1 << 20


def file_identity(path: str) -> dict:
    """Name, size, mtime and sha256 of the first and last MiB of one file."""
    st = os.stat(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(_EDGE))
        if st.st_size > 2 * _EDGE:
            fh.seek(st.st_size - _EDGE)
        h.update(fh.read(_EDGE))
    return {"file": os.path.basename(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "edges_sha256": h.hexdigest()}


def checkpoint_identity(files: list[str]) -> list[dict]:
    return [file_identity(f) for f in files]


def file_sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _describe_difference(saved: dict, now: dict) -> str:
    for k in sorted(set(saved) | set(now)):
        if saved.get(k) != now.get(k):
            if k == "checkpoint":
                return "the checkpoint changed (file sizes, times or contents)"
            if k == "null":
                return ("the null's definition or sampler changed (saved by another gaugetest "
                        "version)")
            return f"{k} is {now.get(k)!r} now, {saved.get(k)!r} in the saved run"
    return "unknown difference"


class Journal:
    """Saved task results of one run, under ``directory``, for the run key ``key``."""

    def __init__(self, directory: str, key: dict):
        self.directory = directory
        self.key = {**key, "generator": f"gaugetest {__version__}"}

    def _manifest_path(self) -> str:
        return os.path.join(self.directory, "manifest.json")

    def _is_ours(self) -> bool:
        try:
            with open(self._manifest_path()) as fh:
                return json.load(fh).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            return False

    def open(self, fresh: bool) -> dict[str, dict]:
        """Results saved by an earlier run with the same key ({} when there is none).

        Raises UsageError (exit 2) when the directory holds another run's results (unless
        ``fresh``) or is not a gaugetest partial-results directory."""
        d = self.directory
        if os.path.lexists(d):
            if not os.path.isdir(d) or (os.listdir(d) and not self._is_ours()):
                raise UsageError("--output", f"{d} to be free or gaugetest's partial results "
                                 "(it is something else: move it away)", d)
            if fresh:
                shutil.rmtree(d)
            elif os.path.exists(self._manifest_path()):
                with open(self._manifest_path()) as fh:
                    saved = json.load(fh).get("key", {})
                if saved != self.key:
                    raise UsageError(
                        "--output", f"the saved partial results in {d} to belong to this run "
                        f"({_describe_difference(saved, self.key)}); rerun with --fresh to "
                        "discard them, or with the original settings to continue", d)
                return self._load()
        return {}

    def _load(self) -> dict[str, dict]:
        out = {}
        for name in sorted(os.listdir(self.directory)):
            if not (name.startswith("task-") and name.endswith(".json")):
                continue
            path = os.path.join(self.directory, name)
            try:
                with open(path) as fh:
                    doc = json.load(fh)
                out[doc["key"]] = doc["result"]
            except (OSError, ValueError, KeyError, TypeError):
                raise UsageError("--output", f"readable saved task results in {self.directory} "
                                 f"({name} is damaged); rerun with --fresh", name) from None
        return out

    def _write_atomic(self, path: str, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def save(self, key: str, result: dict) -> None:
        """Save one task's result (creating the directory and manifest on first use)."""
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory)
        if not os.path.exists(self._manifest_path()):
            self._write_atomic(self._manifest_path(),
                               json.dumps({"format": FORMAT, "key": self.key}, indent=1))
        name = "task-" + hashlib.sha256(key.encode()).hexdigest()[:20] + ".json"
        self._write_atomic(os.path.join(self.directory, name),
                           json.dumps({"key": key, "result": result}))

    def remove(self) -> None:
        if os.path.isdir(self.directory) and (self._is_ours() or not os.listdir(self.directory)):
            shutil.rmtree(self.directory)
