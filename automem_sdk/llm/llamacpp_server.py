"""Serve a GGUF model with llama-cpp-python's OpenAI-compatible server and talk to it.

``python -m llama_cpp.server --model FILE --host 127.0.0.1 --port P`` is started as a
child process; :class:`LlamaServerClient` drives it with the core
:class:`~automem_sdk.llm.OpenAICompatClient` over real HTTP and stops it on
:meth:`~LlamaServerClient.close` (or when the client is garbage collected, or at exit).
llama.cpp reuses the KV cache of a shared prompt prefix by itself, and the op grammar
is enforced with a GBNF ``grammar`` field (see :mod:`automem_sdk.llm.op_grammar`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import IO, Any

import httpx

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Message
from automem_sdk.llm.op_grammar import OpTracker, grammar_setting, op_gbnf
from automem_sdk.llm.openai_compat import OpenAICompatClient
from automem_sdk.llm.options import check_chat_options
from automem_sdk.llm.retry import RetryPolicy

__all__ = ["LlamaCppClient", "LlamaCppServer", "LlamaServerClient", "llama_cpp_available"]


def llama_cpp_available() -> bool:
    """Whether llama-cpp-python (with its server extra) is installed."""
    return (
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("uvicorn") is not None
        and importlib.util.find_spec("fastapi") is not None
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    log.close()


class LlamaCppServer:
    """A llama-cpp-python server child process for one GGUF file.

    Args:
        model_file: path of the ``.gguf`` file.
        alias: the model name the server reports and accepts.
        host: interface to bind (keep ``127.0.0.1``).
        port: TCP port; ``None`` picks a free one.
        n_ctx: context window in tokens.
        n_threads: CPU threads for generation and prompt processing (default: all cores).
        extra_args: more ``llama_cpp.server`` command-line arguments.
        startup_timeout: seconds to wait for the server to answer.

    Example:
        >>> with LlamaCppServer("model.gguf") as server:  # doctest: +SKIP
        ...     client = OpenAICompatClient(server.base_url, server.alias)
    """

    def __init__(
        self,
        model_file: str,
        *,
        alias: str = "local",
        host: str = "127.0.0.1",
        port: int | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 180.0,
    ) -> None:
        if not os.path.isfile(model_file):
            raise LLMError(f"GGUF file not found: {model_file}")
        self.model_file = model_file
        self.alias = alias
        self.host = host
        self.port = port
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.startup_s = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._log_path = ""

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root, ``http://host:port/v1``."""
        if self.port is None:
            raise LLMError("the server has not been started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            self.model_file,
            "--model_alias",
            self.alias,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            *self.extra_args,
        ]

    def _log_tail(self, chars: int = 2000) -> str:
        try:
            with open(self._log_path, "rb") as fh:
                data = fh.read()
        except OSError:
            return ""
        return data[-chars:].decode("utf-8", "replace")

    def start(self) -> str:
        """Start the server and wait until it lists its model.

        Returns:
            The base URL.

        Raises:
            LLMError: llama-cpp-python is missing, or the server exited or did not
                answer within ``startup_timeout`` (the error quotes its log).
        """
        if self.running:
            return self.base_url
        if not llama_cpp_available():
            raise LLMError(
                "serving GGUF models needs llama-cpp-python with its server extra: "
                "pip install 'llama-cpp-python[server]'"
            )
        if self.port is None:
            self.port = _free_port(self.host)
        fd, self._log_path = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        log = os.fdopen(fd, "wb")  # closed by _stop
        start = time.perf_counter()
        proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        self._proc = proc
        self._finalizer = weakref.finalize(self, _stop, proc, log)
        url = f"{self.base_url}/models"
        with httpx.Client(timeout=5.0) as http:
            while True:
                if proc.poll() is not None:
                    self.stop()
                    raise LLMError(
                        f"llama_cpp.server exited with code {proc.returncode}:\n{self._log_tail()}"
                    )
                try:
                    if http.get(url).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - start > self.startup_timeout:
                    self.stop()
                    raise LLMError(
                        f"llama_cpp.server did not answer within {self.startup_timeout:.0f}s:\n"
                        f"{self._log_tail()}"
                    )
                time.sleep(0.2)
        self.startup_s = time.perf_counter() - start
        return self.base_url

    def stop(self) -> None:
        """Stop the server (idempotent) and remove its log."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._proc = None
        if self._log_path:
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)
            self._log_path = ""

    def __enter__(self) -> LlamaCppServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _grammar_request(
    opts: dict[str, Any], default: bool | frozenset[str]
) -> tuple[dict[str, Any], bool | frozenset[str]]:
    """Options with ``grammar=`` turned into the server's GBNF ``grammar`` body field.

    Returns the options to send and the op grammar used (``False``: none, or the
    caller's own GBNF string).
    """
    opts = dict(opts)
    grammar = opts.pop("grammar", default)
    extra = dict(opts.pop("extra_body", None) or {})
    ours: bool | frozenset[str] = False
    if isinstance(grammar, str):  # a GBNF string of the caller's own
        extra["grammar"] = grammar
    else:
        ours = grammar_setting(grammar)
        if ours is not False:
            extra["grammar"] = op_gbnf(ours if isinstance(ours, frozenset) else None)
    if extra:
        opts["extra_body"] = extra
    return opts, ours


def _closed(completion: Completion, ours: bool | frozenset[str], model: str) -> Completion:
    """Close an op cut off by ``max_tokens``, as the in-process path does."""
    update: dict[str, Any] = {"model": model}
    if ours is not False:
        tracker = OpTracker(names=ours if isinstance(ours, frozenset) else None)
        tracker.feed(completion.text)
        update["text"] = tracker.closed_text()
    return completion.model_copy(update=update)


class LlamaCppClient(OpenAICompatClient):
    """An :class:`OpenAICompatClient` for a running llama.cpp server, with the op grammar.

    ``grammar=`` (per call, or ``grammar`` here for every call) takes ``True``, a
    collection of op names, or a GBNF string of your own, and is sent as the server's
    GBNF ``grammar`` field; everything else is as for :class:`OpenAICompatClient`.
    """

    #: the :data:`~automem_sdk.llm.options.CHAT_OPTIONS` this client takes
    chat_options: frozenset[str] = OpenAICompatClient.chat_options | {"grammar"}

    def __init__(
        self, base_url: str, model: str, *, grammar: bool | Iterable[str] = False, **kw: Any
    ) -> None:
        super().__init__(base_url, model, **kw)
        self.grammar = grammar_setting(grammar)

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Send the conversation; see the class docstring for ``grammar=``.

        Raises:
            LLMError: an option this client does not take, or the request failed.
        """
        check_chat_options(type(self).__name__, opts, self.chat_options)
        sent, ours = _grammar_request(opts, self.grammar)
        completion = super().chat(messages, **sent)
        return _closed(completion, ours, completion.model)


class LlamaServerClient:
    """An LLM client that owns a :class:`LlamaCppServer` and chats with it over HTTP.

    Args:
        model_file: path of the ``.gguf`` file.
        name: the model name reported in completions (e.g. ``local:smollm2-135m``).
        grammar: constrain replies to one op with the GBNF op grammar; a collection of
            op names (e.g. ``scaffold.op_tokens()``) also restricts the name to those.
        max_new_tokens: default ``max_tokens``.
        temperature: default sampling temperature (``0`` is greedy).
        retry: retry policy of the HTTP client.
        server_options: more :class:`LlamaCppServer` arguments (``n_ctx``,
            ``n_threads``, ``port``, …).

    The server starts on the first call (or :meth:`start`) and stops on :meth:`close`.
    """

    #: the :data:`~automem_sdk.llm.options.CHAT_OPTIONS` this client takes
    chat_options: frozenset[str] = OpenAICompatClient.chat_options | {"grammar"}

    def __init__(
        self,
        model_file: str,
        *,
        name: str = "local",
        grammar: bool | Iterable[str] = False,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        retry: RetryPolicy | None = None,
        timeout: float = 300.0,
        **server_options: Any,
    ) -> None:
        self.model = name
        self.grammar = grammar_setting(grammar)
        self.server = LlamaCppServer(model_file, alias=name, **server_options)
        self._defaults: dict[str, Any] = {"max_tokens": max_new_tokens, "temperature": temperature}
        self._retry = retry if retry is not None else RetryPolicy(max_attempts=2)
        self._timeout = timeout
        self._client: OpenAICompatClient | None = None

    def __repr__(self) -> str:
        return f"LlamaServerClient({self.model!r}, grammar={self.grammar})"

    def start(self) -> OpenAICompatClient:
        """Start the server if needed; return the HTTP client talking to it."""
        if self._client is None or not self.server.running:
            base = self.server.start()
            self._client = OpenAICompatClient(
                base,
                self.model,
                retry=self._retry,
                timeout=self._timeout,
                default_params=self._defaults,
            )
        return self._client

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Send the conversation to the server.

        Args:
            messages: the conversation.
            **opts: OpenAI request fields (``max_tokens``, ``temperature``, ``stop``,
                ``seed``, …); ``grammar=`` overrides the client's setting: ``True``,
                ``False``, a collection of op names, or a GBNF string of your own.

        Raises:
            LLMError: an option this client does not take, or the request failed.
        """
        check_chat_options(type(self).__name__, opts, self.chat_options)
        client = self.start()
        sent, ours = _grammar_request(opts, self.grammar)
        return _closed(client.chat(messages, **sent), ours, self.model)

    def close(self) -> None:
        """Close the HTTP client and stop the server."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self.server.stop()

    def __enter__(self) -> LlamaServerClient:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
