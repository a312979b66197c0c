"""Which files a policy can make cascadepolicy read, and reading them without surprises.

Sits under composition (`compose.py`): a policy file, the bases its `extends`
names, the `.env` beside it and a test suite's `policy` are all read through
here. A path a policy wrote is accepted only when it resolves (symbolic links
followed) inside the policy's repository, the nearest ancestor directory of
the top-level file that holds `.git`, or the file's own directory when there
is none, or inside a directory the caller allowed explicitly. A file is read
only when it is a regular file, and never beyond a size limit, so a device,
a FIFO or a huge file cannot hang or exhaust the process. Refusals are
sentences about the path as written; they never carry the resolved location
of a file outside the allowed directories, nor anything read from one.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cascadepolicy.errors import CascadePolicyError

MAX_PATH_CHARS = 1024  # a longer written path is refused before the filesystem sees it
SHOWN_PATH_CHARS = 80  # how much of a refused path a message repeats


class Refused(CascadePolicyError):
    """A path that may not or cannot be read.

    `code` is `outside`, `missing` or `invalid`; `reason` is a predicate about
    the path ("is a directory, not a file") that the caller puts after its name.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def shown(written: str) -> str:
    """A path as written, quoted and shortened for a message."""
    text = written if len(written) <= SHOWN_PATH_CHARS else written[:SHOWN_PATH_CHARS] + "..."
    return repr(text)


def repository_root(directory: Path) -> Path:
    """The nearest ancestor of `directory` (itself included) holding `.git` (file or directory), else `directory`."""
    start = Path(os.path.realpath(directory))
    for directory in (start, *start.parents):
        if os.path.lexists(directory / ".git"):
            return directory
    return start


@dataclass(frozen=True)
class Confinement:
    """The directories files may be read from: the repository root, then any the caller allowed."""

    root: Path
    allowed: tuple[Path, ...] = ()

    @classmethod
    def around(cls, directory: Path, allow_outside: Iterable[str | os.PathLike[str]] = ()) -> Confinement:
        """The confinement of a policy file in `directory`."""
        return cls(repository_root(directory), tuple(Path(os.path.realpath(os.fspath(d))) for d in allow_outside))

    def container(self, resolved: Path) -> Path | None:
        """The allowed directory `resolved` lies in, if any."""
        return next((d for d in (self.root, *self.allowed) if resolved.is_relative_to(d)), None)

    def where(self) -> str:
        """The root, as a message shows it: relative to the working directory when it lies below it."""
        try:
            relative = os.path.relpath(self.root)
        except ValueError:
            return str(self.root)
        if relative == ".":
            return "the working directory"
        return str(self.root) if relative.startswith("..") else relative

    def resolve(self, base_dir: Path, written: str) -> Path:
        """The real path `written` names relative to `base_dir`; raises `Refused` unless it is allowed."""
        if "\x00" in written:
            raise Refused("invalid", "contains a NUL character (no file name can hold one)")
        if len(written) > MAX_PATH_CHARS:
            raise Refused("invalid", f"is {len(written):,} characters long; a path may have at most {MAX_PATH_CHARS:,}")
        if not written.strip():
            raise Refused("invalid", "is empty")
        try:
            resolved = Path(os.path.realpath(base_dir / written))
        except (OSError, ValueError) as exc:
            raise Refused("invalid", f"is not a usable path ({_reason(exc)})") from None
        container = self.container(resolved)
        if container is None:
            raise Refused("outside", f"resolves outside the policy's repository ({self.where()})")
        if ".git" in resolved.parts[len(container.parts):]:  # a CI checkout keeps its token in .git/config
            raise Refused("outside", "lies in a .git directory (git's own files, not policies)")
        return resolved


def read_bounded(path: Path, limit: int) -> tuple[bytes, int]:
    """Up to `limit` + 1 bytes of a regular file, and its size; raises `Refused` for anything else.

    The file is opened without blocking (a FIFO would wait for a writer) and
    checked to be a regular file before a byte is read (a device never ends).
    """
    try:
        before = os.stat(path)
    except FileNotFoundError:
        raise Refused("missing", "does not exist") from None
    except (OSError, ValueError) as exc:
        raise Refused("invalid", f"cannot be read ({_reason(exc)})") from None
    _require_regular(before.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise Refused("missing", "does not exist") from None
    except (OSError, ValueError) as exc:
        raise Refused("invalid", f"cannot be read ({_reason(exc)})") from None
    try:
        opened = os.fstat(fd)
        _require_regular(opened.st_mode)  # it may have been swapped since the check above
        chunks, remaining = [], limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise Refused("invalid", f"cannot be read ({_reason(exc)})") from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    return raw, max(opened.st_size, len(raw))


def _require_regular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise Refused("invalid", "is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise Refused("invalid", "is not a regular file (a device, FIFO or socket)")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        if exc.errno == errno.ENAMETOOLONG:
            return "a name in it is too long"
        if exc.errno == errno.ELOOP:
            return "its symbolic links form a loop"
        return exc.strerror or type(exc).__name__
    return "it holds a character no file name can"
