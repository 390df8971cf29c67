// bizra from Kotlin: sign an envelope, verify it, and watch a tampered copy get rejected.
//
// Run it: `make demo-kotlin` (it builds libbizra.so, compiles this file with the Kotlin binding
// in bindings/kotlin and runs it). In your own project, depend on `org.bizra:bizra` (the jar from
// `make dist-kotlin` carries libbizra.so where JNA finds it, with nothing to set; see the README's
// Install section).
package org.bizra.examples

import org.bizra.BizraException
import org.bizra.Envelope
import org.bizra.EnvelopeOptions
import org.bizra.GateChain
import org.bizra.Identity
import org.bizra.kind

fun main() {
    Identity.generate().use { me ->
        println("identity ${me.displayId()}")

        // Create: the payload is any JSON value, passed as text.
        val envelope = Envelope.create(
            me,
            """{"prompt": "What is 2+2?", "answer": "4"}""",
            EnvelopeOptions(ttl = 600, snr = 0.93, ihsan = 0.97),
        )
        val wire = envelope.use { it.toJson() }
        println("signed   $wire")

        // Open: what a receiver does with the wire text (parse and verify in one call), then
        // judge it with the gate chain (check observes) and admit it (admit records its id, so a
        // second admission is a replay).
        Envelope.open(wire).use { received ->
            println("verified ${received.id()} from ${received.sender()}")
            GateChain().use { chain ->
                val report = chain.check(received)
                println("gates    passed=${report.passed} (${report.results.joinToString { it.name }})")
                chain.admit(received)
                try {
                    chain.admit(received)
                } catch (e: BizraException.Rejected) {
                    println("again    ${e.name} (retryable=${e.retryable})")
                }
            }
        }

        // A rejection: change the answer after signing.
        val forged = wire.replace(""""answer":"4"""", """"answer":"5"""")
        try {
            Envelope.open(forged).close()
            println("forged envelope accepted?!")
        } catch (e: BizraException.Rejected) {
            println("rejected PCI-${e.code} ${e.name}: ${e.detail} (${e.kind})")
        }
    }
}
