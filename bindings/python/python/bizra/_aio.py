"""``async for`` over a generation or a node's events.

``Model.astream(...)`` returns an :class:`AsyncTokenStream`, ``Node.aevents()`` (and ``async for``
over an ``EventStream``) an :class:`AsyncEventStream`, ``Node.aconsensus_events()`` (and
``async for`` over a ``ConsensusEventStream``) an :class:`AsyncConsensusEventStream`, all on one
pump (:class:`_Pumped`). A worker thread iterates the native stream
(which waits with the GIL released) and hands each item to the event loop with
``call_soon_threadsafe``, so the loop never blocks on the engine or the node, and a stream costs
one thread, not one executor job per item.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Iterator, Optional, Protocol, TypeVar, Union

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._native import (
        ConsensusEventStream,
        Decision,
        Envelope,
        Event,
        EventStream,
        Evidence,
        TokenStream,
    )

_Item = Union[str, "Envelope"]
_ConsensusEvent = Union["Decision", "Evidence"]
_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class _Source(Protocol[_T_co]):
    """A native stream: iterated on the worker thread, closed from any thread."""

    def __iter__(self) -> Iterator[_T_co]: ...

    def close(self) -> None: ...


class _End:
    """The pump's last message: the iteration ended, normally or with ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: Optional[BaseException]) -> None:
        self.error = error


def _pump(
    stream: _Source[_T],
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue[Union[_T, _End]],
) -> None:
    """Runs on the worker thread: the stream's items into the queue, then an :class:`_End`.

    Holds no reference to the async stream, so dropping that closes the native one. When the loop
    is gone (``asyncio.run`` returned), nobody reads on: the native stream is closed.
    """

    def deliver(message: Union[_T, _End]) -> bool:
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


class _Pumped(Generic[_T]):
    """``async for`` over a native stream, fed by a worker thread started at the first read."""

    _thread_name = "bizra-aio"

    def __init__(self, stream: _Source[_T]) -> None:
        self._source = stream
        self._queue: Optional[asyncio.Queue[Union[_T, _End]]] = None
        self._end: Optional[_End] = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _T:
        if self._end is not None:
            if self._end.error is not None:
                raise self._end.error
            raise StopAsyncIteration
        if self._queue is None:
            self._queue = asyncio.Queue()
            worker = threading.Thread(
                target=_pump,
                args=(self._source, asyncio.get_running_loop(), self._queue),
                name=self._thread_name,
                daemon=True,
            )
            worker.start()
        item = await self._queue.get()
        if isinstance(item, _End):
            self._end = item
            return await self.__anext__()
        return item

    async def aclose(self) -> None:
        """Closes the native stream and ends the iteration; items the worker thread had
        already read are dropped."""
        self._source.close()
        if self._end is None:
            self._end = _End(None)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # The pump thread holds the native stream, so dropping this object alone would not close
        # it: a `break` out of `async for` must.
        source = getattr(self, "_source", None)
        if source is not None:
            source.close()


class AsyncTokenStream(_Pumped[_Item]):
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

    _thread_name = "bizra-astream"

    def __init__(self, stream: TokenStream) -> None:
        super().__init__(stream)
        self._stream = stream

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
        await super().aclose()

    async def envelope(self) -> Envelope:
        """The signed envelope, awaited on a worker thread (see ``TokenStream.envelope``)."""
        stream = self._stream
        return await asyncio.to_thread(lambda: stream.envelope)


class AsyncEventStream(_Pumped["Event"]):
    """A node's membership events for ``async for``: ``node.aevents()``, or ``async for`` over
    ``node.events()``.

    Yields :class:`Event` objects in order and ends when the node stops. ``aclose()`` (or the end
    of an ``async with`` block), or dropping the stream (``break`` out of the loop), closes it.

        >>> async for event in node.aevents():
        ...     print(event.kind, event.member.addr)
    """

    _thread_name = "bizra-aevents"

    def __init__(self, stream: EventStream) -> None:
        super().__init__(stream)
        self._stream = stream

    @property
    def stream(self) -> EventStream:
        """The native stream this one reads."""
        return self._stream


class AsyncConsensusEventStream(_Pumped[_ConsensusEvent]):
    """A node's consensus events for ``async for``: ``node.aconsensus_events()``, or
    ``async for`` over ``node.consensus_events()``.

    Yields a :class:`Decision` for each height the node decides and :class:`Evidence` of any
    validator seen equivocating, in order, and ends when the node stops. ``aclose()`` (or the end
    of an ``async with`` block), or dropping the stream (``break`` out of the loop), closes it.

        >>> async for event in node.aconsensus_events():
        ...     if isinstance(event, bizra.Decision):
        ...         print(event.height, event.certificate.value)
    """

    _thread_name = "bizra-aconsensus"

    def __init__(self, stream: ConsensusEventStream) -> None:
        super().__init__(stream)
        self._stream = stream

    @property
    def stream(self) -> ConsensusEventStream:
        """The native stream this one reads."""
        return self._stream
