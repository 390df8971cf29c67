"""``async for`` over a generation: ``Model.astream(...)`` returns an :class:`AsyncTokenStream`.

A worker thread iterates the native :class:`~bizra.TokenStream` (which waits on the engine with the
GIL released) and hands each item to the event loop with ``call_soon_threadsafe``, so the loop
never blocks on the engine and a stream costs one thread, not one executor job per piece.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    from ._native import Envelope, TokenStream

_Item = Union[str, "Envelope"]


class _End:
    """The pump's last message: the iteration ended, normally or with ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: Optional[BaseException]) -> None:
        self.error = error


def _pump(
    stream: TokenStream,
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[Union[_Item, _End]],
) -> None:
    """Runs on the worker thread: the stream's items into the queue, then an :class:`_End`.

    Holds no reference to the :class:`AsyncTokenStream`, so dropping that closes the stream. When
    the loop is gone (``asyncio.run`` returned), nobody reads on: the generation is stopped.
    """

    def deliver(message: Union[_Item, _End]) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, message)
        except RuntimeError:  # the loop is closed
            stream.close()
            return False
        return True

    try:
        for item in stream:
            if not deliver(item):
                return
    except BaseException as e:  # noqa: BLE001 - re-raised by __anext__ on the loop's side
        deliver(_End(e))
        return
    deliver(_End(None))


class AsyncTokenStream:
    """The pieces of a running generation for ``async for``, ending with its signed envelope.

    Yields ``str`` pieces, which concatenate to the output, then the signed :class:`Envelope` as
    the last item; a generation error is raised by the iteration. ``aclose()`` (or the end of an
    ``async with`` block), ``cancel()``, or dropping the stream (``break`` out of the loop) stops
    the generation; ``await envelope()`` then returns the partial answer, signed, with
    finish_reason "cancelled".

        >>> async with model.astream(me, "Hi", max_tokens=8) as stream:
        ...     async for item in stream:
        ...         print(item)
    """

    def __init__(self, stream: TokenStream) -> None:
        self._stream = stream
        self._queue: Optional[asyncio.Queue[Union[_Item, _End]]] = None
        self._end: Optional[_End] = None

    def __aiter__(self) -> AsyncTokenStream:
        return self

    async def __anext__(self) -> _Item:
        if self._end is not None:
            if self._end.error is not None:
                raise self._end.error
            raise StopAsyncIteration
        if self._queue is None:
            self._queue = asyncio.Queue()
            worker = threading.Thread(
                target=_pump,
                args=(self._stream, asyncio.get_running_loop(), self._queue),
                name="bizra-astream",
                daemon=True,
            )
            worker.start()
        item = await self._queue.get()
        if isinstance(item, _End):
            self._end = item
            return await self.__anext__()
        return item

    @property
    def stream(self) -> TokenStream:
        """The native stream this one reads."""
        return self._stream

    def cancel(self) -> None:
        """Stops the generation at its next token; the pieces made before it are still yielded."""
        self._stream.cancel()

    async def aclose(self) -> None:
        """Stops the generation and the iteration (as ``TokenStream.close()``): pieces the worker
        thread had already read are dropped, and ``envelope()`` gives the partial answer."""
        self._stream.close()
        if self._end is None:
            self._end = _End(None)

    async def envelope(self) -> Envelope:
        """The signed envelope, awaited on a worker thread (see ``TokenStream.envelope``)."""
        stream = self._stream
        return await asyncio.to_thread(lambda: stream.envelope)

    async def __aenter__(self) -> AsyncTokenStream:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # The pump thread holds the native stream, so dropping this object alone would not stop
        # the generation: a `break` out of `async for` must.
        stream = getattr(self, "_stream", None)
        if stream is not None:
            stream.close()
