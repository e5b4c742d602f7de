"""The jobs every Coucou ships with: the classic greeting and the demo jobs."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator

from django.conf import settings
from ninja import Field, Schema

from jobs.context import JobContext
from jobs.exceptions import JobFailed
from jobs.registry import Retry, job


@job("coucou", description='Push "coucou <username>" to the caller.')
def coucou(ctx: JobContext) -> dict[str, str]:
    message = f"coucou {ctx.owner.get_username()}"
    ctx.push("coucou", {"message": message})
    return {"message": message}


class CountParams(Schema):
    n: int = Field(..., ge=1, le=1_000_000, description="How far to count.")
    interval_ms: int = Field(0, ge=0, le=10_000, description="Pause between steps, in ms.")


@job("demo.count", params=CountParams, description="Count to n, reporting progress at each step.")
def count(ctx: JobContext, params: CountParams) -> dict[str, int]:
    pause = params.interval_ms / 1000
    for i in range(1, params.n + 1):
        ctx.progress(i, params.n)
        if pause:
            time.sleep(pause)
    return {"counted": params.n}


class FailParams(Schema):
    message: str = Field("demo failure", max_length=1000, description="The error message to fail with.")


@job("demo.fail", params=FailParams, description="Fail with the given message.")
def fail(ctx: JobContext, params: FailParams) -> None:
    raise JobFailed(params.message)


class SleepParams(Schema):
    seconds: float = Field(..., ge=0, le=3600, description="How long to sleep.")
    ignore_cancel: bool = Field(False, description="Never check for cancellation (to try the grace period).")


@job("demo.sleep", params=SleepParams, description="Sleep in small steps, checking for cancellation.")
def sleep(ctx: JobContext, params: SleepParams) -> dict[str, float]:
    deadline = time.monotonic() + params.seconds
    while (left := deadline - time.monotonic()) > 0:
        if not params.ignore_cancel:
            ctx.progress(params.seconds - left, params.seconds, message="sleeping")
        time.sleep(min(0.1, left))
    ctx.progress(params.seconds, params.seconds, message="awake")
    return {"slept": params.seconds}


class FlakyParams(Schema):
    failures: int = Field(1, ge=0, le=10, description="How many attempts fail before one succeeds.")


@job(
    "demo.flaky",
    params=FlakyParams,
    description="Fail the first attempts, then succeed: retries with backoff.",
    retry=Retry(on=(ConnectionError,), max_attempts=3, backoff_s=0.5),
)
def flaky(ctx: JobContext, params: FlakyParams) -> dict[str, int]:
    if ctx.attempt <= params.failures:
        raise ConnectionError(f"attempt {ctx.attempt} of a flaky job failed on purpose")
    return {"succeeded_on_attempt": ctx.attempt}


# Jean de La Fontaine, "Le Corbeau et le Renard" (1668): public domain, and not only ASCII.
FABLE = """\
Maître Corbeau, sur un arbre perché,
Tenait en son bec un fromage.
Maître Renard, par l'odeur alléché,
Lui tint à peu près ce langage :
« Hé ! bonjour, Monsieur du Corbeau.
Que vous êtes joli ! que vous me semblez beau !
Sans mentir, si votre ramage
Se rapporte à votre plumage,
Vous êtes le Phénix des hôtes de ces bois. »
À ces mots le Corbeau ne se sent pas de joie ;
Et pour montrer sa belle voix,
Il ouvre un large bec, laisse tomber sa proie.
Le Renard s'en saisit, et dit : « Mon bon Monsieur,
Apprenez que tout flatteur
Vit aux dépens de celui qui l'écoute :
Cette leçon vaut bien un fromage, sans doute. »
Le Corbeau, honteux et confus,
Jura, mais un peu tard, qu'on ne l'y prendrait plus.
"""


def fable_words(n: int) -> Iterator[str]:
    """The first ``n`` words of the fable, read again and again, each with the space or line
    break after it: what ``demo.stream`` writes, one chunk a word."""
    lines = [line.split() for line in FABLE.splitlines()]
    chunks = [word + (" " if i < len(words) - 1 else "\n") for words in lines for i, word in enumerate(words)]
    return itertools.islice(itertools.cycle(list(chunks)), n)


class StreamParams(Schema):
    words: int = Field(200, ge=1, le=100_000, description="How many words to stream.")
    interval_ms: int = Field(20, ge=0, le=1_000, description="Pause between words, in ms.")
    key: str = Field("text", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="The output stream's key.")


@job("demo.stream", params=StreamParams, description="Stream the words of a fable to an output stream.")
def stream(ctx: JobContext, params: StreamParams) -> dict[str, int]:
    pause = params.interval_ms / 1000
    with ctx.stream(params.key) as out:
        for i, word in enumerate(fable_words(params.words), 1):
            out.write(word)
            ctx.progress(i, params.words, message="streaming")
            if pause:
                time.sleep(pause)
    return {"words": params.words, "bytes": out.size}


if getattr(settings, "JOBS_ENABLE_CRASH_DEMO", False):
    # Off by default: a job that any user could start to kill workers is a denial of service.

    @job("demo.crash", description="Kill the worker process running it (for crash tests).")
    def crash(ctx: JobContext) -> None:
        ctx.progress(0, 1, message="about to crash")
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)


class FanoutParams(Schema):
    children: int = Field(10, ge=1, le=1_000, description="How many child jobs (demo.count) to start.")
    steps: int = Field(10, ge=1, le=10_000, description="How far each child counts.")
    interval_ms: int = Field(20, ge=0, le=1_000, description="Each child's pause between steps, in ms.")
    fail: list[int] = Field(
        default_factory=list, max_length=1_000, description="Indices of children that fail (demo.fail)."
    )


@job(
    "demo.fanout",
    params=FanoutParams,
    description="Start child jobs that count (one bar for all of them); fails fast if one fails.",
)
def fanout(ctx: JobContext, params: FanoutParams) -> dict[str, int]:
    failing = set(params.fail)
    counting = [i for i in range(params.children) if i not in failing]
    ctx.map("demo.count", [{"n": params.steps, "interval_ms": params.interval_ms} for _ in counting])
    for i in sorted(failing & set(range(params.children))):
        ctx.spawn("demo.fail", {"message": f"child {i} fails"})
    return {"children": params.children}
