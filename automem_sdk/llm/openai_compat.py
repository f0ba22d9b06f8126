"""A client for OpenAI-compatible chat servers over httpx.

One protocol covers OpenAI itself, vLLM's server (a LoRA adapter loaded with
``--lora-modules NAME=PATH`` is addressed by passing ``NAME`` as the model), the
llama.cpp server, llama-cpp-python's server and Ollama (``http://host:11434/v1``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from automem_sdk.errors import LLMError
from automem_sdk.llm.base import Completion, Message, Usage, as_messages
from automem_sdk.llm.options import check_chat_options
from automem_sdk.llm.retry import (
    LLMStatusError,
    RetryableFailure,
    RetryPolicy,
    body_excerpt,
    parse_retry_after,
)

__all__ = ["OpenAICompatClient"]


def _server_message(response: httpx.Response) -> str:
    """The error message a server put in its body (OpenAI's ``{"error": {...}}`` form)."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return body_excerpt(response.content)
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return body_excerpt(err["message"])
        if isinstance(err, str):
            return body_excerpt(err)
        if isinstance(data.get("message"), str):
            return body_excerpt(data["message"])
        if isinstance(data.get("detail"), str):
            return body_excerpt(data["detail"])
    return body_excerpt(response.content)


_OPTIONS = frozenset({"model", "max_tokens", "temperature", "top_p", "seed", "stop", "extra_body"})


class OpenAICompatClient:
    """Chat completions against any OpenAI-compatible ``/v1`` endpoint.

    Args:
        base_url: the API root including ``/v1`` (e.g. ``https://api.openai.com/v1``,
            ``http://127.0.0.1:8000/v1`` for vLLM, ``http://127.0.0.1:11434/v1`` for
            Ollama).
        model: the model name sent with every request; for vLLM a LoRA adapter's name.
        api_key: sent as ``Authorization: Bearer``; ``None`` sends no header.
        http_client: an ``httpx.Client`` to use (tests pass one built on
            ``httpx.MockTransport``); when ``None`` one is created and owned.
        timeout: per-request timeout in seconds for the client created here.
        retry: the retry policy for timeouts, connection errors, 429 and 5xx.
        default_params: chat options for every request (``temperature``,
            ``max_tokens``, ``stop``, ``extra_body``, …); per-call options override
            them.

    Raises:
        ValueError: ``base_url`` is empty.
        LLMError: ``default_params`` holds an option this client does not take.

    Example:
        >>> client = OpenAICompatClient("http://127.0.0.1:8000/v1", "memory-lora")
        >>> client.chat([{"role": "user", "content": "hi"}]).text  # doctest: +SKIP
    """

    #: the :data:`~automem_sdk.llm.options.CHAT_OPTIONS` this client takes
    chat_options: frozenset[str] = _OPTIONS

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        http_client: httpx.Client | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        default_params: Mapping[str, Any] | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("base_url must not be empty")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.retry = retry if retry is not None else RetryPolicy()
        self.default_params: dict[str, Any] = dict(default_params or {})
        check_chat_options(type(self).__name__, self.default_params, self.chat_options)
        self._owns_client = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._timeout = timeout
        self._headers: dict[str, str] = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return f"OpenAICompatClient(base_url={self.base_url!r}, model={self.model!r})"

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> OpenAICompatClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- HTTP ------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[Any, int]:
        url = f"{self.base_url}{path}"
        what = f"{method} {url}"

        def attempt(_n: int) -> Any:
            try:
                response = self._http.request(
                    method, url, headers=self._headers, json=body, timeout=self._timeout
                )
            except httpx.TimeoutException as exc:
                raise RetryableFailure(f"{type(exc).__name__}: {exc}", timeout=True) from exc
            except httpx.TransportError as exc:
                raise RetryableFailure(f"{type(exc).__name__}: {exc}") from exc
            status = response.status_code
            if status >= 400:
                message = _server_message(response)
                if self.retry.is_retryable_status(status):
                    raise RetryableFailure(
                        f"HTTP {status}",
                        status=status,
                        body=message,
                        retry_after=self._retry_after(response),
                    )
                raise LLMStatusError(
                    f"{what} failed with HTTP {status}: {message}",
                    status=status,
                    body=message,
                )
            try:
                return response.json()
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
                raise LLMError(
                    f"{what} returned a reply that is not JSON: {body_excerpt(response.content)!r}"
                ) from exc

        return self.retry.call(attempt, what=what)

    def _retry_after(self, response: httpx.Response) -> float | None:
        return parse_retry_after(response.headers, now=self.retry.clock)

    # -- API -------------------------------------------------------------------------
    def build_body(
        self, messages: Sequence[Message | dict[str, Any]], **opts: Any
    ) -> dict[str, Any]:
        """The JSON body :meth:`chat` would send (useful for logging and tests).

        Raises:
            LLMError: an option this client does not take (see :meth:`chat`).
        """
        check_chat_options(type(self).__name__, opts, self.chat_options)
        params = {**self.default_params, **opts}
        model = params.pop("model", None) or self.model
        extra = dict(params.pop("extra_body", None) or {})
        return {
            "model": model,
            "messages": [m.model_dump() for m in as_messages(messages)],
            **params,
            **extra,
        }

    def chat(self, messages: Sequence[Message | dict[str, Any]], **opts: Any) -> Completion:
        """Send a chat completion request.

        Args:
            messages: the conversation.
            **opts: ``temperature``, ``max_tokens``, ``top_p``, ``stop``, ``seed``;
                ``model=`` overrides the client's model for this call; ``extra_body=``
                adds server-specific request fields as given.

        Returns:
            The first choice's text with usage, wall-clock latency (all attempts and
            back-off included), finish reason and the number of attempts.

        Raises:
            LLMError: the reply was not understood, the request failed, or an option
                is not one this client takes (``grammar`` is for the llama.cpp server
                and local clients).
            LLMStatusError: the server answered with an error status.
            LLMTimeoutError: every attempt timed out.
        """
        body = self.build_body(messages, **opts)
        start = time.perf_counter()
        data, attempts = self._request("POST", "/chat/completions", body)
        latency = time.perf_counter() - start
        return self._parse_completion(data, attempts, latency, body["model"])

    def _parse_completion(
        self, data: Any, attempts: int, latency: float, requested_model: str
    ) -> Completion:
        where = f"{self.base_url}/chat/completions"
        if not isinstance(data, dict):
            raise LLMError(f"{where} returned {type(data).__name__}, expected a JSON object")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise LLMError(f"{where} returned no choices: {body_excerpt(json.dumps(data))!r}")
        first = choices[0]
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            raise LLMError(
                f"{where} returned a choice without a message: {body_excerpt(json.dumps(first))!r}"
            )
        content = message.get("content")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise LLMError(f"{where} returned non-text content: {body_excerpt(str(content))!r}")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        finish = first.get("finish_reason")
        return Completion(
            text=content,
            model=str(data.get("model") or requested_model),
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
            ),
            latency_s=latency,
            finish_reason=str(finish) if finish is not None else None,
            attempts=attempts,
        )

    def list_models(self) -> list[str]:
        """Model ids the server offers (``GET /models``).

        vLLM lists the base model and every LoRA adapter loaded with
        ``--lora-modules``; Ollama lists pulled models.

        Raises:
            LLMError: the reply was not a model list, or the request failed.
        """
        data, _ = self._request("GET", "/models", None)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise LLMError(
                f"{self.base_url}/models returned no model list: {body_excerpt(json.dumps(data))!r}"
            )
        return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]
