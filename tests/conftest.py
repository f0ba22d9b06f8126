"""Shared pytest fixtures: store URLs for file://, memory:// and s3:// (moto server).

S3 tests run against moto's server bound to 127.0.0.1 through s3fs, with
``region_name`` unset (``us-east-1`` style region handling breaks bucket creation).
The moto server is started once per session, lazily, only by tests that need it.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

S3Target = tuple[str, dict[str, Any]]

_HAVE_S3 = (
    importlib.util.find_spec("moto") is not None and importlib.util.find_spec("s3fs") is not None
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[dict[str, Any]]:
    """Start moto's S3-compatible server on 127.0.0.1 for the whole session.

    Yields:
        The ``storage_options`` dict that points s3fs at the server.
    """
    if not _HAVE_S3:
        pytest.skip("moto[server] and s3fs are needed for s3 tests")
    from automem_sdk.testing import local_s3

    with local_s3() as options:
        yield options


def _new_bucket(options: dict[str, Any]) -> str:
    import s3fs

    bucket = f"test-{uuid.uuid4().hex[:16]}"
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    fs.mkdir(bucket)
    return bucket


@pytest.fixture
def s3_store_url(moto_server: dict[str, Any]) -> S3Target:
    """A fresh, empty ``s3://bucket/prefix`` on the moto server.

    Returns:
        ``(url, storage_options)``; pass both to ``MemoryStore`` / fsspec.
    """
    bucket = _new_bucket(moto_server)
    options = {**moto_server, "client_kwargs": dict(moto_server["client_kwargs"])}
    return f"s3://{bucket}/mem-{uuid.uuid4().hex[:8]}", options


@pytest.fixture
def s3_url(s3_store_url: S3Target) -> S3Target:
    """Alias of :func:`s3_store_url` (``(url, storage_options)``)."""
    return s3_store_url


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A unique ``memory://`` root, removed after the test."""
    import fsspec

    root = f"memory://automem-test-{uuid.uuid4().hex}"
    yield root
    fs = fsspec.filesystem("memory")
    path = root[len("memory://") :]
    if fs.exists(path):
        fs.rm(path, recursive=True)


@pytest.fixture
def file_url(tmp_path: Path) -> str:
    """A ``file://`` URL of a fresh directory under ``tmp_path``."""
    root = tmp_path / "store"
    root.mkdir()
    return root.as_uri()


@pytest.fixture(
    params=[
        "file",
        "memory",
        pytest.param("s3", marks=pytest.mark.s3),
    ]
)
def store_url(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any] | None]:
    """A fresh store root on each backend: ``(url, storage_options or None)``."""
    kind = request.param
    if kind == "file":
        return request.getfixturevalue("file_url"), None
    if kind == "memory":
        return request.getfixturevalue("memory_url"), None
    url, options = request.getfixturevalue("s3_store_url")
    return url, options


def _raw_tree(url: str, storage_options: dict[str, Any] | None = None) -> dict[str, str]:
    """Read a store's files straight from its filesystem (bypassing the store)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    fs.invalidate_cache()
    root = root.rstrip("/")
    out: dict[str, str] = {}
    for name in fs.find(root):
        rel = name[len(root) :].lstrip("/") if name.startswith(root) else name
        if rel.split("/", 1)[0] == ".automem":
            continue
        out[rel] = fs.cat_file(name).decode("utf-8")
    return out


@pytest.fixture
def raw_tree() -> Any:
    """A function ``(url, storage_options=None) -> {path: text}`` reading the raw tree."""
    return _raw_tree
