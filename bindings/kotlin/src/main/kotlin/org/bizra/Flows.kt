// Hand-written beside the generated bizra.kt: Kotlin idioms over the UniFFI API, no logic of
// their own.
package org.bizra

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import java.util.concurrent.atomic.AtomicBoolean

/**
 * The stream as a [Flow]: collecting it emits the text pieces ([StreamItem.Piece]) as they are
 * generated, then the signed envelope ([StreamItem.Signed], the collector's to close) as the last
 * item, and closes the stream. A collector that stops early (cancelled, `take(n)`, an exception)
 * closes it too, which stops the generation at its next token. Where the generation fails, its
 * error is thrown in place of the envelope.
 *
 * A stream is read once, so the flow is collected once; a second collection throws
 * [IllegalStateException].
 */
fun TokenStream.asFlow(): Flow<StreamItem> {
    val collected = AtomicBoolean(false)
    return flow {
        check(collected.compareAndSet(false, true)) {
            "this TokenStream's flow was already collected (a stream is read once)"
        }
        use { stream ->
            while (true) emit(stream.next() ?: break)
        }
    }
}

/**
 * The node's membership events as a [Flow]: collecting it emits each [NodeEvent] in order (first
 * a [NodeEventKind.JOINED] for every member already alive or suspect, then every change) and
 * completes when the node leaves or stops. The subscription is closed when the collector stops,
 * whatever the reason (cancelled, `first { ... }`, `take(n)`, an exception), and waiting for an
 * event blocks no thread. Usually `node.events().asFlow()`.
 *
 * A subscription is read once, so the flow is collected once; a second collection throws
 * [IllegalStateException] (call `node.events()` again for another).
 */
fun NodeEvents.asFlow(): Flow<NodeEvent> {
    val collected = AtomicBoolean(false)
    return flow {
        check(collected.compareAndSet(false, true)) {
            "this NodeEvents's flow was already collected (subscribe again with node.events())"
        }
        use { events ->
            while (true) emit(events.next() ?: break)
        }
    }
}
