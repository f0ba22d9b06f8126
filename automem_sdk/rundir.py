"""Run directories over fsspec URLs, resumable episode runs, and crash-safe writes.

A *run directory* is any fsspec URL: a local path, ``file://...`` or ``s3://bucket/prefix``
(``storage_options`` go to fsspec unchanged). :class:`RunDir` keeps one JSON object
per finished episode::

    RUN/episodes/<key>.json      one EpisodeResult per finished job (key: agent/env/seed)

and :func:`run_jobs` plays a list of :class:`~automem_sdk.episodes.EpisodeJob`: jobs
whose JSON exists are skipped (their stored result is returned), the others are played
(in this process, a spawned process pool or on Ray) and each result is written by the
process that played it, last, with :func:`atomic_write`. That file is the episode's
"finished" marker, so a killed run goes on where it stopped and plays no episode twice.

:func:`atomic_write` writes a whole file so that a reader sees the old content or the
new, never a part: locally a temporary file in the same folder, fsync, then
``os.replace``; on object stores one PUT, which is atomic already.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import fsspec

from automem_sdk.atomic import atomic_write, is_local, sweep_stale_tmp
from automem_sdk.episode_result import EpisodeResult
from automem_sdk.episodes import EpisodeJob, play_episode
from automem_sdk.errors import AutomemError

__all__ = [
    "Executor",
    "RunDir",
    "RunDirError",
    "atomic_write",
    "is_local",
    "play_jobs",
    "run_jobs",
    "sweep_stale_tmp",
]

Executor = Literal["process", "ray"]
PlayFn = Callable[[EpisodeJob], EpisodeResult]


class RunDirError(AutomemError):
    """A run directory cannot be used as asked (a stored result for other settings, a
    missing executor)."""


class RunDir:
    """A run directory at an fsspec URL (see module docstring).

    Args:
        url: a local path, ``file://`` or ``s3://`` URL.
        storage_options: fsspec options, passed through.
        results: the sub-folder of episode results.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        storage_options: dict[str, Any] | None = None,
        *,
        results: str = "episodes",
    ) -> None:
        self.storage_options = dict(storage_options or {})
        self.fs, root = fsspec.core.url_to_fs(str(url), **self.storage_options)
        self.local = is_local(self.fs)
        self.root = str(root).rstrip("/")
        self.url = str(Path(root).resolve()) if self.local else str(url).rstrip("/")
        self.results = results

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its URL in the worker (another host's filesystem object).
        return (_rundir, (self.url, self.storage_options, self.results))

    # ----------------------------------------------------------------- files
    def join(self, *parts: str) -> str:
        """The URL (local: the path) of ``parts`` under the run directory."""
        return "/".join([self.url, *parts])

    def exists(self, *parts: str) -> bool:
        """Whether ``parts`` exists."""
        return bool(self.fs.exists("/".join([self.root, *parts])))

    def read_text(self, *parts: str) -> str:
        """The text of ``parts``."""
        with self.fs.open("/".join([self.root, *parts]), "r", encoding="utf-8") as f:
            text: str = f.read()
        return text

    def write(self, data: str | bytes, *parts: str) -> None:
        """Write ``parts`` whole, atomically (:func:`atomic_write`)."""
        atomic_write(self.join(*parts), data, self.storage_options)

    def ls(self, *parts: str) -> list[str]:
        """Every file under ``parts``, as paths relative to it (empty if none)."""
        base = "/".join([self.root, *parts])
        if not self.fs.exists(base):
            return []
        found = self.fs.find(base)
        return sorted(str(p)[len(base) :].lstrip("/") for p in found)

    def sweep(self, max_age_s: float = 600.0) -> int:
        """Remove stale temporary files (local run directories; 0 on object stores)."""
        return sweep_stale_tmp(self.root, max_age_s) if self.local else 0

    # --------------------------------------------------------------- results
    def result_parts(self, key: str) -> tuple[str, ...]:
        """Where the result of ``key`` lives, as path parts."""
        return (self.results, *key.split("/")[:-1], key.split("/")[-1] + ".json")

    def result_url(self, key: str) -> str:
        """The URL of the result of ``key``."""
        return self.join(*self.result_parts(key))

    def load_result(self, key: str) -> EpisodeResult | None:
        """The stored result of ``key``, or None if it has not finished."""
        parts = self.result_parts(key)
        if not self.exists(*parts):
            return None
        return EpisodeResult.model_validate_json(self.read_text(*parts))

    def save_result(self, result: EpisodeResult, key: str | None = None) -> None:
        """Store ``result`` (under ``key``, default ``result.key``), atomically."""
        name = key or result.key
        if not name:
            raise RunDirError("a result needs a key to be stored")
        self.write(result.model_dump_json(indent=1), *self.result_parts(name))

    def load_results(self) -> list[EpisodeResult]:
        """Every stored result, in key order."""
        keys = [p[: -len(".json")] for p in self.ls(self.results) if _is_result(p)]
        rows = [self.load_result(k) for k in keys]
        return [r for r in rows if r is not None]

    def plan(
        self,
        jobs: Sequence[EpisodeJob],
        check: Callable[[EpisodeJob, EpisodeResult], None] | None = None,
    ) -> tuple[list[EpisodeJob], dict[str, EpisodeResult]]:
        """Split ``jobs`` into those to play and the stored results of finished ones.

        Args:
            jobs: the jobs of a run.
            check: called with each finished job and its stored result; may raise
                (e.g. the result was played with another step cap). The default
                refuses a stored result with another ``max_steps`` or ``scaffold``.

        Returns:
            (jobs to play, key -> stored result).

        Raises:
            RunDirError: the default check failed.
        """
        todo: list[EpisodeJob] = []
        done: dict[str, EpisodeResult] = {}
        for job in jobs:
            prev = self.load_result(job.job_key)
            if prev is None:
                todo.append(job)
                continue
            (check or _same_settings)(job, prev)
            done[job.job_key] = prev
        return todo, done


def _rundir(url: str, storage_options: dict[str, Any], results: str) -> RunDir:
    return RunDir(url, storage_options, results=results)


def _is_result(rel: str) -> bool:
    return rel.endswith(".json") and not rel.rsplit("/", 1)[-1].startswith(".")


def _same_settings(job: EpisodeJob, prev: EpisodeResult) -> None:
    if prev.max_steps != job.max_steps or prev.scaffold != job.scaffold:
        raise RunDirError(
            f"{job.job_key} was played with max_steps={prev.max_steps}, "
            f"scaffold={prev.scaffold!r}; this run asks max_steps={job.max_steps}, "
            f"scaffold={job.scaffold!r}: use another run directory"
        )


def _play_and_save(job: EpisodeJob, run: RunDir, play: PlayFn) -> EpisodeResult:
    """Play ``job`` and store its result (last: the finished marker)."""
    result = play(job)
    if result.key != job.job_key:
        result = result.model_copy(update={"key": job.job_key})
    run.save_result(result, job.job_key)
    return result


def _play_dict(job: dict[str, Any], run: RunDir, play: PlayFn) -> dict[str, Any]:
    return _play_and_save(EpisodeJob.model_validate(job), run, play).model_dump(mode="json")


def _process_map(
    jobs: Sequence[EpisodeJob], run: RunDir, play: PlayFn, workers: int
) -> Iterator[EpisodeResult]:
    if workers <= 1:
        for j in jobs:
            yield _play_and_save(j, run, play)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: set[Future[EpisodeResult]] = {
            pool.submit(_play_and_save, j, run, play) for j in jobs
        }
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    yield f.result()
        except BaseException:
            # One episode failed (e.g. the LLM endpoint is down): start no other one.
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _ray_map(
    jobs: Sequence[EpisodeJob], run: RunDir, play: PlayFn, workers: int
) -> Iterator[EpisodeResult]:
    try:
        import ray
    except ImportError as exc:
        raise RunDirError(
            "executor 'ray' needs Ray: pip install 'automem-sdk[ray]' (or use 'process')"
        ) from exc
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        kw: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
        if address:
            kw["address"] = address
        else:
            kw.update(num_cpus=max(1, workers), include_dashboard=False)
        ray.init(**kw)
    remote = ray.remote(num_cpus=1)(_play_dict)
    pending = [remote.remote(j.model_dump(mode="json"), run, play) for j in jobs]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                yield EpisodeResult.model_validate(ray.get(ref))
    except BaseException:
        for ref in pending:  # one episode failed: start no other one
            ray.cancel(ref)
        raise


def play_jobs(
    jobs: Sequence[EpisodeJob],
    run: RunDir,
    *,
    executor: Executor = "process",
    workers: int = 1,
    play: PlayFn = play_episode,
) -> Iterator[EpisodeResult]:
    """Play every job (no skipping) and store each result; yield them as they finish.

    Args:
        jobs: what to play.
        run: where results go.
        executor: ``process`` (this process if ``workers`` is 1, else a spawned pool)
            or ``ray`` (``RAY_ADDRESS`` picks the cluster, else a local one starts).
        workers: parallel episodes.
        play: plays one job (a top-level function, so workers can import it).

    Raises:
        RunDirError: ``ray`` without Ray installed.
    """
    if not jobs:
        return iter(())
    mapper = _ray_map if executor == "ray" else _process_map
    return mapper(jobs, run, play, workers)


def run_jobs(
    jobs: Sequence[EpisodeJob],
    run: RunDir | str,
    *,
    storage_options: dict[str, Any] | None = None,
    executor: Executor = "process",
    workers: int = 1,
    play: PlayFn = play_episode,
    check: Callable[[EpisodeJob, EpisodeResult], None] | None = None,
    on_result: Callable[[EpisodeResult, bool], None] | None = None,
) -> list[EpisodeResult]:
    """Play the jobs not finished in ``run`` yet; return every job's result, in order.

    Args:
        jobs: the run's jobs (keys must be unique).
        run: a :class:`RunDir` or its URL.
        storage_options: fsspec options when ``run`` is a URL.
        executor: see :func:`play_jobs`.
        workers: parallel episodes.
        play: plays one job.
        check: see :meth:`RunDir.plan`.
        on_result: called with each result and whether it was played now.

    Returns:
        One result per job, in the order of ``jobs``.

    Raises:
        RunDirError: duplicate keys, a stored result for other settings, or ``ray``
            without Ray.
    """
    rd = run if isinstance(run, RunDir) else RunDir(run, storage_options)
    keys = [j.job_key for j in jobs]
    if len(set(keys)) != len(keys):
        raise RunDirError("two jobs share a key: give each a distinct key")
    rd.sweep()
    todo, results = rd.plan(jobs, check)
    if on_result is not None:
        for r in results.values():
            on_result(r, False)
    for res in play_jobs(todo, rd, executor=executor, workers=workers, play=play):
        results[res.key] = res
        if on_result is not None:
            on_result(res, True)
    return [results[k] for k in keys]
