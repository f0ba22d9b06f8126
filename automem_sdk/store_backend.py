"""The store root on one fsspec filesystem: the few file operations a store needs.

Local disk gets atomic temp-and-rename writes, ``O_APPEND`` journal lines that are
truncated back on a short write, ``fsync`` on request and private file modes; object
stores get conditional creates (put-if-absent) and batched deletes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any

from automem_sdk.store_paths import RESERVED_DIR

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["Backend", "sha256_hex"]

log = logging.getLogger(__name__)

_APPENDABLE_PROTOCOLS = frozenset({"file", "local", "memory"})
# Object stores whose fsspec backend sends ``pipe_file(..., mode="create")`` as a real
# conditional PUT (s3fs: ``IfNoneMatch: *``). Elsewhere the journal assumes one writer.
_CONDITIONAL_PROTOCOLS = frozenset({"s3", "s3a"})


def sha256_hex(data: bytes) -> str:
    """Return the hex sha256 of ``data`` (the address of a content object)."""
    return hashlib.sha256(data).hexdigest()


class Backend:
    """The store root on one fsspec filesystem, with the few operations the store needs.

    Args:
        fs: a filesystem rooted at the store (a ``DirFileSystem``); paths are relative.
        protocol: the underlying filesystem's protocol (``file``, ``memory``, ``s3``...).
        local_root: the resolved local directory when the store is on local disk.
    """

    def __init__(
        self,
        fs: AbstractFileSystem,
        protocol: str,
        local_root: str | None,
        *,
        durable: bool = False,
        file_mode: int = 0o600,
        dir_mode: int = 0o700,
    ) -> None:
        self.fs = fs
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.protocol = protocol
        self.local_root = local_root
        self.appendable = protocol in _APPENDABLE_PROTOCOLS
        self.conditional = protocol in _CONDITIONAL_PROTOCOLS
        self.durable = durable and local_root is not None

    def invalidate(self, rel: str = "") -> None:
        """Drop fsspec's cached listing of ``rel`` (other writers may have written there).

        fsspec backends drop a path and its parents, not its children, so callers name
        the folder they are about to list.
        """
        with contextlib.suppress(Exception):
            self.fs.invalidate_cache(rel)

    def create_only(self, rel: str, data: bytes) -> bool:
        """Write ``rel`` only if it does not exist (one conditional PUT on object stores).

        Returns:
            ``False`` if the object already existed (nothing was written).
        """
        if self.conditional:
            try:
                self.fs.pipe_file(rel, data, mode="create")
            except FileExistsError:
                return False
            return True
        if self.exists(rel):  # single-writer backends: a probe, then the PUT
            return False
        self.write_atomic(rel, data)
        return True

    def _missing_dirs(self, path: str) -> list[str]:
        """The directories ``os.makedirs(path)`` would create, deepest first (durable only)."""
        missing: list[str] = []
        while self.durable and path and not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        return missing

    def _sync_dir(self, path: str) -> None:
        """``fsync`` a local directory so a rename or new entry in it survives power loss."""
        if not self.durable:
            return
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- paths -------------------------------------------------------------------------
    def local(self, rel: str) -> str:
        """Absolute local path of ``rel`` (local stores only)."""
        assert self.local_root is not None
        return os.path.join(self.local_root, *rel.split("/"))

    # -- reading -----------------------------------------------------------------------
    def read(self, rel: str) -> bytes | None:
        """Return the bytes of ``rel`` or ``None`` if it does not exist."""
        try:
            if self.local_root is not None:
                with open(self.local(rel), "rb") as fh:
                    return fh.read()
            if self.conditional:
                # one GET: s3fs otherwise sizes the object first from its listing cache,
                # which misses objects other writers added (a false "missing object")
                return bytes(self.fs.cat_file(rel, max_concurrency=1))
            return bytes(self.fs.cat_file(rel))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def exists(self, rel: str) -> bool:
        """Whether a file (or object) exists at ``rel``."""
        if self.local_root is not None:
            return os.path.isfile(self.local(rel))
        return bool(self.fs.isfile(rel))

    def list_files(self) -> dict[str, int]:
        """All regular files of the tree (reserved directory excluded) with their sizes.

        On local disk, symlinks are skipped and never followed, and a folder that is a
        store of its own (a scoped sub-store with its own ``.automem/``) is skipped.
        """
        return {rel: size for rel, (size, _mtime) in self.list_files_detail().items()}

    def list_files_detail(self) -> dict[str, tuple[int, float | None]]:
        """Like :meth:`list_files`, with each file's mtime (``None`` off local disk)."""
        out: dict[str, tuple[int, float | None]] = {}
        if self.local_root is not None:
            self._scan_local(self.local_root, "", out, top=True)
            return out
        found: dict[str, dict[str, Any]] = self.fs.find("", detail=True)
        marker = f"/{RESERVED_DIR}/"
        # folders that hold a store of their own (a scoped sub-store): skipped whole
        nested = {
            "/" + rel[: rel.casefold().index(marker) + 1]
            for rel in (n.lstrip("/") for n in found)
            if marker in "/" + rel.casefold() and not rel.casefold().startswith(RESERVED_DIR)
        }
        for name, info in found.items():
            rel = name.lstrip("/")
            if info.get("type") != "file" or rel.split("/", 1)[0].casefold() == RESERVED_DIR:
                continue
            if nested and any(("/" + rel).startswith(n) for n in nested):
                continue
            out[rel] = (int(info.get("size") or 0), None)
        return out

    def _scan_local(
        self, path: str, rel: str, out: dict[str, tuple[int, float | None]], *, top: bool
    ) -> None:
        """Walk a local folder with ``os.scandir`` (one ``lstat`` per file, no joins)."""
        import stat as stat_mod

        try:
            it = os.scandir(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        subdirs: list[tuple[str, str]] = []
        with it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if stat_mod.S_ISREG(st.st_mode):
                    out[rel + entry.name] = (st.st_size, st.st_mtime)
                elif stat_mod.S_ISDIR(st.st_mode):
                    if top and entry.name.casefold() == RESERVED_DIR:
                        continue
                    subdirs.append((entry.path, rel + entry.name + "/"))
        for sub, sub_rel in subdirs:
            if not os.path.isdir(os.path.join(sub, RESERVED_DIR)):  # a store of its own
                self._scan_local(sub, sub_rel, out, top=False)

    def mtime(self, rel: str) -> float | None:
        """Modification time of a local file (``None`` if missing or not local)."""
        if self.local_root is None:
            return None
        try:
            return os.stat(self.local(rel)).st_mtime
        except OSError:
            return None

    # -- writing -----------------------------------------------------------------------
    def write_atomic(self, rel: str, data: bytes) -> None:
        """Replace ``rel`` with ``data`` atomically (temp + rename locally, one PUT elsewhere).

        With ``durable``, the temp file is ``fsync``-ed before the rename and the
        directory after it, so the new content (not an empty file) survives a power loss.
        """
        if self.local_root is not None:
            target = self.local(rel)
            tmp = self.local(f"{RESERVED_DIR}/tmp/{uuid.uuid4().hex}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self.file_mode)
            try:
                os.fchmod(fd, self.file_mode)  # whatever the umask
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    if self.durable:
                        fh.flush()
                        os.fsync(fh.fileno())
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise
            parent = os.path.dirname(target)
            created = self._missing_dirs(parent)
            try:
                self.makedirs(parent)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
                raise
            for directory in (parent, *(os.path.dirname(d) for d in created)):
                self._sync_dir(directory)
            return
        self.fs.pipe_file(rel, data)

    def makedirs(self, path: str) -> None:
        """Create a local directory and its missing parents with ``dir_mode``."""
        if os.path.isdir(path):
            return
        parent = os.path.dirname(path)
        if parent and parent != path:
            self.makedirs(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, self.dir_mode)
            os.chmod(path, self.dir_mode)  # whatever the umask

    def remove(self, rel: str) -> None:
        """Remove a file if it exists; on local disk also prune emptied parent directories."""
        if self.local_root is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.local(rel))
            self._prune(rel)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(rel)

    def write_many(self, files: dict[str, bytes]) -> None:
        """Write many files; on object stores as concurrent PUTs (fsspec ``pipe``)."""
        if self.local_root is not None or len(files) < 2:
            for rel, data in files.items():
                self.write_atomic(rel, data)
            return
        self.fs.pipe(files)

    def remove_many(self, rels: list[str]) -> None:
        """Remove many files; on object stores in batched requests (S3: 1,000 keys each)."""
        if not rels:
            return
        if self.local_root is not None:
            for rel in rels:
                self.remove(rel)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(rels)

    def move(self, src: str, dst: str, data: bytes) -> None:
        """Move ``src`` to ``dst`` (``data`` is its content, used where a move is a copy)."""
        if self.local_root is not None:
            target = self.local(dst)
            self.makedirs(os.path.dirname(target))
            try:
                os.replace(self.local(src), target)
            except FileNotFoundError:
                self.write_atomic(dst, data)
            self._sync_dir(os.path.dirname(target))
            self._prune(src)
            return
        self.write_atomic(dst, data)
        self.remove(src)

    def _prune(self, rel: str) -> None:
        parts = rel.split("/")[:-1]
        while parts:
            try:
                os.rmdir(self.local("/".join(parts)))
            except OSError:
                return
            parts.pop()

    def append_bytes(self, rel: str, data: bytes) -> None:
        """Append ``data`` to ``rel`` with a single write (appendable backends only)."""
        if self.local_root is not None:
            fd = os.open(self.local(rel), os.O_WRONLY | os.O_APPEND | os.O_CREAT, self.file_mode)
            try:
                start = os.fstat(fd).st_size
                try:
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(28, f"short write ({written} of {len(data)} bytes)")
                    if self.durable:
                        os.fsync(fd)
                except OSError:
                    # leave no torn line behind: the entry is not committed
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)
            return
        with self.fs.open(rel, "ab") as fh:
            fh.write(data)

    def ident(self, rel: str) -> Any:
        """An identity of file ``rel`` that changes when it is replaced (not appended to):
        inode on local disk, creation time in memory; ``None`` elsewhere or if missing."""
        try:
            if self.local_root is not None:
                st = os.stat(self.local(rel))
                return (st.st_dev, st.st_ino)
            if self.protocol == "memory":
                # MemoryFileSystem.info scans every key (to tell folders): look the file
                # object up directly; a rewrite replaces it
                base: Any = getattr(self.fs, "fs", self.fs)
                join = getattr(self.fs, "_join", lambda p: p)
                found = type(base).store.get(base._strip_protocol(join(rel)))
                return None if found is None else (id(found), getattr(found, "created", None))
        except FileNotFoundError:
            return None
        return None

    def size(self, rel: str) -> int | None:
        """Size of ``rel`` in bytes (0 if missing) where that is one cheap call, else ``None``.

        Only local disk qualifies: ``MemoryFileSystem.size`` scans every key of the
        process-wide memory store, and object stores need a request.
        """
        if self.local_root is None:
            return None
        try:
            return os.stat(self.local(rel)).st_size
        except FileNotFoundError:
            return 0

    def read_from(self, rel: str, start: int) -> bytes:
        """Bytes of ``rel`` from offset ``start`` to its end (``b""`` if it is missing)."""
        try:
            if self.local_root is not None:
                with open(self.local(rel), "rb") as fh:
                    fh.seek(start)
                    return fh.read()
            return bytes(self.fs.cat_file(rel, start=start))
        except FileNotFoundError:
            return b""

    def clean_tmp(self) -> None:
        """Remove temp files left by killed writers (call only while holding the lock)."""
        if self.local_root is None:
            return
        tmp_dir = self.local(f"{RESERVED_DIR}/tmp")
        self.makedirs(tmp_dir)
        for name in os.listdir(tmp_dir):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(tmp_dir, name))
