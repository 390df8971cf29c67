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
fun NodeEvents.asFlow(): Flow<NodeEvent> = readOnce("node.events()") { next() }

/**
 * The node's consensus events as a [Flow]: collecting it emits each [ConsensusEvent] in order
 * ([ConsensusEvent.Decided] with its [Decision] for every height the federation decides,
 * [ConsensusEvent.Evidence] for every equivocation seen) and completes when the node leaves or
 * stops (at once for a node without consensus). The subscription is closed when the collector
 * stops, whatever the reason, and waiting for an event blocks no thread. Usually
 * `node.consensusEvents().asFlow()`.
 *
 * A subscription is read once, so the flow is collected once; a second collection throws
 * [IllegalStateException] (call `node.consensusEvents()` again for another).
 */
fun ConsensusEvents.asFlow(): Flow<ConsensusEvent> = readOnce("node.consensusEvents()") { next() }

/**
 * A subscription's events as a flow that may be collected once: emits what [next] gives until it
 * gives null, and closes the subscription when the collector stops. [again] says how to get
 * another subscription.
 */
private fun <S : AutoCloseable, T : Any> S.readOnce(again: String, next: suspend S.() -> T?): Flow<T> {
    val collected = AtomicBoolean(false)
    val name = javaClass.simpleName
    return flow {
        check(collected.compareAndSet(false, true)) {
            "this $name's flow was already collected (subscribe again with $again)"
        }
        use { stream ->
            while (true) emit(stream.next() ?: break)
        }
    }
}
