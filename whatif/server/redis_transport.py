"""kombu's Redis transport, with a worker that survives Redis going away while it acknowledges a task.

kombu 5.7's ``Channel.close`` reads a pending BRPOP answer first; when Redis has just died
that read tries to reconnect through a connection that is being released and raises
``AttributeError: 'NoneType' object has no attribute 'hostname'``, which Celery treats as an
unrecoverable error: the worker exits instead of waiting for Redis to come back (seen when
Redis is killed while a worker acknowledges a finished task; see tests/whatif/server/
test_celery.py). Here that read is attempted and a failure of it ignored, so the channel
closes and the worker reconnects as it does when Redis dies while it is idle.

Only a failure for want of Redis is ignored (a connection error, or the AttributeError above);
then a task that BRPOP had just taken off the queue is lost with the connection, as it would be
in kombu itself, and a warning says so. Anything else still fails as in kombu. The override
touches kombu's private ``_in_poll`` and ``_brpop_read``: requirements.txt keeps kombu below
5.8 until this is checked again.
"""

from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)


class Channel(kombu_redis.Channel):  # type: ignore[misc]
    """A Redis channel whose close never fails for want of Redis."""

    def close(self) -> None:
        """Drain a pending BRPOP if Redis still answers, then close as kombu does."""
        if self._in_poll:
            try:
                self._brpop_read()
            except (*self.connection_errors, AttributeError) as exc:  # Redis is gone: nothing can be read
                logger.warning(
                    "Redis went away while the worker waited for a task (%s): a task taken off the queue at "
                    "that moment may be lost; reconnecting",
                    type(exc).__name__,
                )
            self._in_poll = False
        super().close()


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with the channel above."""

    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
