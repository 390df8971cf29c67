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
