// bizra federation membership from Kotlin: two nodes on loopback, the second joins through the
// first, each hears of the other, the second leaves and the first hears that too. In a real
// federation each node runs in its own process, on its own machine, with its seeds' addresses.
//
// Run it: `make demo-kotlin`. In your own program, call `main()` or copy the body; the binding is
// the generated bindings/kotlin/src/main/kotlin/org/bizra/bizra.kt plus JNA and
// kotlinx-coroutines.
package org.bizra.examples.federation

import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.bizra.Identity
import org.bizra.Node
import org.bizra.NodeEventKind
import org.bizra.NodeOptions
import org.bizra.Timings
import org.bizra.asFlow
import java.time.Duration

/** Options for a node on a free loopback port, with timings for a demo (a probe every 200 ms). */
fun demoOptions(seeds: List<String> = listOf()) = NodeOptions(
    bind = "127.0.0.1:0",
    federation = "example",
    seeds = seeds,
    timings = Timings(probePeriod = Duration.ofMillis(200), probeRtt = Duration.ofMillis(80), gossipInterval = Duration.ofMillis(50)),
)

fun main(): Unit = runBlocking {
    Identity.generate().use { idA ->
        Identity.generate().use { idB ->
            Node.start(idA, demoOptions()).use { a ->
                println("node a listens on ${a.localAddr()}")
                // Subscribe before b starts: the flow then sees b join, and later leave.
                val events = a.events()
                Node.start(idB, demoOptions(seeds = listOf(a.localAddr()))).use { b ->
                    val joined = withTimeout(20_000) {
                        b.events().asFlow().first { it.kind == NodeEventKind.JOINED }
                    }
                    println("b sees ${joined.member.nodeId} joined at ${joined.member.addr}")
                    val seen = events.next() ?: error("a's events ended")
                    println("a sees ${seen.member.nodeId} ${seen.kind.name.lowercase()} at ${seen.member.addr}")

                    for (m in a.members()) {
                        println("member ${m.nodeId} ${m.addr} generation ${m.generation} ${m.state.name.lowercase()}")
                    }
                    val stats = a.stats()
                    println("a sent ${stats.sent} datagrams, received ${stats.received}, dropped ${stats.dropped.values.sum()}")

                    b.leave()
                    val left = withTimeout(20_000) {
                        events.asFlow().first { it.kind == NodeEventKind.LEFT }
                    }
                    println("a sees ${left.member.nodeId} left")
                }
            }
        }
    }
}
