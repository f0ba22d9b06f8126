"""A local S3 for tests, demos and benchmarks: moto's server on 127.0.0.1.

>>> with local_s3("my-bucket") as options:          # doctest: +SKIP
...     store = MemoryStore("s3://my-bucket/agent", options)

Needs the ``moto[server]`` and ``s3fs`` packages (the ``[dev]`` extra). Nothing leaves
the machine: the server binds to loopback on a free port.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["local_s3"]


@contextmanager
def local_s3(*buckets: str) -> Iterator[dict[str, Any]]:
    """Run moto's S3 server on 127.0.0.1 and yield s3fs ``storage_options`` for it.

    Args:
        *buckets: buckets to create before yielding.

    Raises:
        ImportError: moto[server] or s3fs is not installed.
    """
    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # region_name stays unset: us-east-1 style handling breaks bucket creation on moto.
    options: dict[str, Any] = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
    }
    try:
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
        for bucket in buckets:
            fs.mkdir(bucket)
        yield options
    finally:
        server.stop()
