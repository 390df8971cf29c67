// bizra consensus from Kotlin: four validators of one federation document on loopback decide a
// proposal; each hears the decision on its Flow, the certificate verifies against the document
// (as anyone holding the document can check it, offline), and every node stored the height. In a
// real federation each validator runs in its own process, on its own machine, with its own data
// directory, and the document lists their keys.
//
// Run it: `make demo-kotlin`. In your own program, call `main()` or copy the body; the binding is
// the generated bindings/kotlin/src/main/kotlin/org/bizra/bizra.kt plus JNA and
// kotlinx-coroutines.
package org.bizra.examples.consensus

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.bizra.ConsensusEvent
import org.bizra.Envelope
import org.bizra.EnvelopeOptions
import org.bizra.FederationDocument
import org.bizra.Identity
import org.bizra.Node
import org.bizra.NodeOptions
import org.bizra.Timings
import org.bizra.asFlow
import java.nio.file.Files
import java.time.Duration

/** The federation document: the validators' keys and powers, and round timeouts for a demo. */
fun demoDocument(validators: List<Identity>): FederationDocument {
    val keys = validators.joinToString(",") { id ->
        val hex = id.publicKey().joinToString("") { "%02x".format(it) }
        """{"key":"$hex","power":1}"""
    }
    return FederationDocument.fromJson(
        """{"epoch":1,"federation":"example","timeouts_ms":{"delta":50,"precommit":150,""" +
            """"prevote":150,"propose":300,"rebroadcast":300},"validators":[$keys]}""",
    )
}

fun main(): Unit = runBlocking {
    val ids = List(4) { Identity.generate() }
    val dirs = List(4) { Files.createTempDirectory("bizra-consensus-example-") }
    val document = demoDocument(ids)
    println("document ${document.hashHex()} epoch ${document.epoch()} validators ${document.validators().size}")
    fun options(i: Int, seeds: List<String>) = NodeOptions(
        bind = "127.0.0.1:0",
        seeds = seeds,
        federation = "example",
        dataDir = dirs[i].toString(),                           // the write-ahead log lives here
        timings = Timings(probePeriod = Duration.ofMillis(200), probeRtt = Duration.ofMillis(80), gossipInterval = Duration.ofMillis(50)),
        document = document,                                    // takes part in consensus
    )
    val nodes = mutableListOf(Node.start(ids[0], options(0, listOf())))
    try {
        for (i in 1..3) nodes += Node.start(ids[i], options(i, listOf(nodes[0].localAddr())))
        // Each validator links to the three others.
        withTimeout(20_000) {
            while (!nodes.all { it.consensusStatus()?.linked == 3uL }) kotlinx.coroutines.delay(20)
        }
        println("4 validators linked")

        // Subscribe first, then propose: each node's Flow hears the decision.
        val decisions = nodes.map { node ->
            val events = node.consensusEvents()
            async(Dispatchers.IO) {
                withTimeout(20_000) { events.asFlow().filterIsInstance<ConsensusEvent.Decided>().first().decision }
            }
        }
        val proposal = Envelope.create(ids[0], """{"type":"bizra.proposal","text":"adopt pattern 42"}""", EnvelopeOptions(snr = 0.9, ihsan = 0.97))
        println("proposed ${proposal.id()}: new=${nodes[0].propose(proposal)}")
        for ((i, d) in decisions.awaitAll().withIndex()) {
            d.certificate.verifyBatch(d.batchJson, document)    // throws CertificateRefused if not
            println("node $i decided height ${d.height} round ${d.round}: ${d.proposals.map { it.id() }} (certificate verified, ${d.certificate.signatureCount()} signatures)")
        }
        val stored = nodes[3].decided(1u) ?: error("node 3 did not store height 1")
        println("stored   height 1 value ${stored.certificate.valueHex()}")
        println("again    new=${nodes[1].propose(proposal)}")
        val status = nodes[0].consensusStatus() ?: error("no consensus")
        println("status   height ${status.height} decided ${status.decided} pending ${status.pending} linked ${status.linked}")
    } finally {
        nodes.forEach { it.close() }                            // leaves gracefully
        dirs.forEach { it.toFile().deleteRecursively() }
        document.close()
        ids.forEach { it.close() }
    }
}
