"""kombu's Redis transport, with a worker that survives Redis going away while it acknowledges a task.

kombu 5.7's ``Channel.close`` reads a pending BRPOP answer first; when Redis has just died
that read tries to reconnect through a connection that is being released and raises
``AttributeError: 'NoneType' object has no attribute 'hostname'``, which Celery treats as an
unrecoverable error: the worker exits instead of waiting for Redis to come back (seen when
Redis is killed while a worker acknowledges a finished task; see tests/whatif/server/
test_celery.py). Here that read is attempted and a failure of it ignored, so the channel
closes and the worker reconnects as it does when Redis dies while it is idle.
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
            except Exception as exc:  # Redis is gone: there is nothing to read
                logger.debug("pending BRPOP not read while closing: %s", type(exc).__name__)
            self._in_poll = False
        super().close()


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    """kombu's Redis transport with the channel above."""

    Channel = Channel


TRANSPORT = f"{__name__}:Transport"
