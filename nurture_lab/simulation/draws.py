"""Common random numbers: the uniforms a lead meets at each step slot, in NAMED columns.

Every random draw a lead meets at step slot ``k`` comes from the stream ``(seed, chunk, STEP, k)``,
whatever the arm, so running every lead through every arm gives the true effect of each arm. The
columns keep their order (seeds keep their meaning); a new kind of draw gets a new stream slot
(like :data:`K_REMINDER`, :data:`K_INBOUND`), never a wider matrix. A column that serves two draws
says so by name (:data:`U_VOICEMAIL` is :data:`U_READ`).
"""

from __future__ import annotations

import numpy as np

from .. import _random

__all__ = [
    "K_INBOUND",
    "K_REMINDER",
    "K_SELF_BOOK_TIME",
    "K_SEND_TIME",
    "N_UNIFORMS",
    "U_BOOK",
    "U_DELIVER",
    "U_DUP_DELIVER",
    "U_DUP_ENGAGE",
    "U_DUP_OPT_OUT",
    "U_DUP_VOICEMAIL",
    "U_ENGAGE",
    "U_HANDOFF",
    "U_OPT_OUT",
    "U_READ",
    "U_VOICEMAIL",
    "Draws",
    "draws_for",
]

#: The columns of a step slot's uniforms (per lead), in stream order.
U_DELIVER = 0  #: the message is delivered
U_ENGAGE = 1  #: the lead engages (clicks, replies, answers the call)
U_OPT_OUT = 2  #: the lead opts out on it
U_BOOK = 3  #: the lead books after it (also an answered inbound call's booking, stream K_INBOUND)
U_HANDOFF = 4  #: the handoff between owner teams fails
U_DUP_OPT_OUT = 5  #: the duplicate of a failed handoff: the lead opts out on it
U_READ = 6  #: a qualified lead reads the message without engaging
U_DUP_DELIVER = 7  #: the duplicate of a failed handoff is delivered
N_UNIFORMS = 8
#: Shared draws. A call's voicemail draw is the read draw of its step (a call that goes to voicemail is
#: one no one engaged with); a duplicate call's engage draw is its delivery draw, its voicemail draw
#: its opt-out draw.
U_VOICEMAIL = U_READ
U_DUP_ENGAGE = U_DUP_DELIVER
U_DUP_VOICEMAIL = U_DUP_OPT_OUT
#: Stream slots beyond the cadence's step slots: visit-reminder calls, inbound calls.
K_REMINDER, K_INBOUND = 1000, 1001
#: A stream slot of one uniform per lead (:meth:`Draws.single`): where in its day a self-booking lead
#: books online.
K_SELF_BOOK_TIME = 1002
#: Step ``k``'s send-time draws (exploration, a random time in the window) are slot ``K_SEND_TIME + k``
#: (:mod:`.send_time`; drawn only for a step whose ``send_time`` is not "planned").
K_SEND_TIME = 2000


class Draws:
    """The per-step uniforms of one chunk, drawn once and shared by every arm (common random numbers)."""

    def __init__(self, seed: int, chunk: int, n: int, users: dict[int, int] | None = None) -> None:
        self.seed, self.chunk, self.n = seed, chunk, n
        self._cache: dict[int, np.ndarray] = {}
        #: with ``users`` (runs that keep many chunks alive at once): how many arm runs will read each
        #: step slot; the draws are dropped once all have (:meth:`done`), other slots are not cached
        self._users = users
        self._seen: dict[int, int] = {}

    def __call__(self, k: int) -> np.ndarray:
        if k in self._cache:
            u = self._cache[k]
        else:
            u = _random.stream(self.seed, self.chunk, _random.STEP, k).random((self.n, N_UNIFORMS))
            if self._users is None or self._users.get(k, 0) > 1:
                self._cache[k] = u
        self.done(k)
        return u

    def single(self, k: int) -> np.ndarray:
        """One uniform per lead from stream slot ``k`` (a slot read this way is never read as a matrix)."""
        return _random.stream(self.seed, self.chunk, _random.STEP, k).random(self.n)

    def done(self, k: int) -> None:
        """One arm run is past step slot ``k``."""
        if self._users is None or k not in self._users:
            return
        self._seen[k] = self._seen.get(k, 0) + 1
        if self._seen[k] >= self._users[k]:
            self._cache.pop(k, None)


def draws_for(seed: int, c: int, n: int, steps: list[int]) -> Draws:
    """A chunk's draws, each step slot let go once the arm runs of ``steps`` (their step counts) read it."""
    users: dict[int, int] = {}
    for n_steps in steps:
        for k in range(n_steps):
            users[k] = users.get(k, 0) + 1
    return Draws(seed, c, n, users)
