package org.bizra

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Files
import java.nio.file.Path
import java.time.Duration
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Consensus on Kotlin nodes: four validators on loopback (UDP membership and TCP consensus links,
 * port 0, fast timings and timeouts, a data directory each) link to one another, decide a proposal
 * that each node's Flow reports with a certificate that verifies against the document, store it
 * (`decided(1)`), and refuse what they must (a proposal again is not new, a non-proposal, an
 * envelope the gate chain refuses). A node without a document refuses consensus calls; bad
 * options name the problem; evidence is checked with its refusal code.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConsensusTest {
    private val federation = "kotlin-consensus"

    private val fast = Timings(
        probePeriod = Duration.ofMillis(100),
        probeRtt = Duration.ofMillis(40),
        suspectToDownAfter = Duration.ofMillis(2000),
        gossipInterval = Duration.ofMillis(30),
        rejoinInterval = Duration.ofMillis(500),
        announceInterval = Duration.ofSeconds(1),
    )

    private val ids = List(4) { Identity.generate() }
    private lateinit var document: FederationDocument
    private lateinit var dirs: List<Path>
    private val nodes = mutableListOf<Node>()

    /** A document of [validators] (power 1 each) with the round timeouts of a fast test. */
    private fun documentOf(validators: List<Identity>, name: String = federation): FederationDocument {
        val keys = validators.joinToString(",") { """{"key":"${hex(it.publicKey())}","power":1}""" }
        return FederationDocument.fromJson(
            """{"epoch":1,"federation":"$name","timeouts_ms":{"delta":50,"precommit":150,""" +
                """"prevote":150,"propose":300,"rebroadcast":300},"validators":[$keys]}""",
        )
    }

    private fun options(dir: Path?, seeds: List<String> = listOf(), doc: FederationDocument? = document) =
        NodeOptions(
            bind = "127.0.0.1:0",
            seeds = seeds,
            federation = federation,
            timings = fast,
            expectedMembers = 8u,
            dataDir = dir?.toString(),
            document = doc,
        )

    private fun proposal(by: Identity, n: Int, ihsan: Double = 0.97): Envelope =
        Envelope.create(by, """{"type":"bizra.proposal","n":$n}""", EnvelopeOptions(snr = 0.9, ihsan = ihsan, ttl = 600))

    /** Waits until [condition] holds; fails after 20 s with [what]. */
    private fun eventually(what: () -> String, condition: () -> Boolean) {
        val deadline = System.nanoTime() + 20_000_000_000L
        while (System.nanoTime() < deadline) {
            if (condition()) return
            Thread.sleep(20)
        }
        throw AssertionError("not within 20 s: ${what()}")
    }

    @BeforeAll
    fun startTheFederation() {
        document = documentOf(ids)
        dirs = List(4) { Files.createTempDirectory("bizra-kotlin-consensus-") }
        val first = Node.start(ids[0], options(dirs[0]))
        nodes += first
        for (i in 1..3) nodes += Node.start(ids[i], options(dirs[i], seeds = listOf(first.localAddr())))
        eventually({ nodes.map { it.consensusStatus() }.toString() }) {
            nodes.all { it.consensusStatus()?.linked == 3uL }
        }
    }

    @AfterAll
    fun stopTheFederation() {
        nodes.forEach { it.close() }
        dirs.forEach { it.toFile().deleteRecursively() }
        ids.forEach { it.close() }
        document.close()
    }

    @Test
    fun fourValidatorsDecideAProposal(): Unit = runBlocking {
        // Subscribed before proposing: each node's Flow sees the decision.
        val streams = nodes.map { it.consensusEvents() }
        val collected = streams.map { events ->
            async(Dispatchers.IO) {
                withTimeout(20_000) { events.asFlow().filterIsInstance<ConsensusEvent.Decided>().first().decision }
            }
        }
        val env = proposal(ids[1], 1)
        assertTrue(nodes[1].propose(env))
        val decisions = collected.awaitAll()

        val height = decisions.first().height
        for ((i, d) in decisions.withIndex()) {
            assertEquals(height, d.height, "node $i")
            assertEquals(height, d.certificate.height())
            assertEquals(d.round, d.certificate.round())
            assertEquals(federation, d.certificate.federation())
            assertEquals(listOf(env), d.proposals, "node $i")
            assertEquals(decisions.first().batchJson, d.batchJson, "node $i")
            // The same value; the signatures may be another two thirds at each node.
            assertEquals(decisions.first().certificate.valueHex(), d.certificate.valueHex(), "node $i")
            // The certificate proves the batch under the document; another document refuses it.
            d.certificate.verifyBatch(d.batchJson, document)
            assertTrue(d.certificate.signatureCount() >= 3u)
        }
        // Each node stored it, as its event said.
        for ((node, d) in nodes.zip(decisions)) {
            val stored = assertNotNull(node.decided(height))
            assertEquals(d.certificate, stored.certificate)
            assertEquals(d.certificate.toJson(), stored.certificate.toJson())
            assertEquals(d.batchJson, stored.batchJson)
            assertEquals(listOf(env), stored.proposals)
            assertNull(node.decided(height + 1000u))
            val status = assertNotNull(node.consensusStatus())
            assertTrue(status.validator)
            assertTrue(status.decided >= height, "$status")
            assertEquals(3uL, status.linked)
            assertNull(status.failure)
            assertTrue(status.engine.decided >= 1u, "$status")
        }
        val other = documentOf(List(4) { Identity.generate() })
        val refused = assertThrows<BizraException.CertificateRefused> { decisions.first().certificate.verify(other) }
        assertEquals("CERTIFICATE_REFUSED", refused.kind)

        // Proposing it again, here or elsewhere: not new.
        assertFalse(nodes[1].propose(env))
        assertFalse(nodes[2].propose(env))
        streams.forEach { assertThrows<IllegalStateException> { it.isEnded() } } // the Flows closed them
    }

    @Test
    fun whatIsNotAGoodProposalIsRefused() {
        Identity.generate().use { me ->
            val notAProposal = Envelope.create(me, """{"type":"chat","n":1}""", EnvelopeOptions(snr = 0.9, ihsan = 0.97))
            val e = assertThrows<BizraException.InvalidInput> { nodes[0].propose(notAProposal) }
            assertContains(e.detail, "not a proposal")
            assertEquals("INVALID_INPUT", e.kind)
            // The federation's gate chain (the default one) refuses an Ihsan below 0.95: code 25.
            val low = assertRejected(25) { nodes[0].propose(proposal(me, 2, ihsan = 0.5)) }
            assertEquals("GATE_IHSAN", low.name)
        }
    }

    @Test
    fun aNodeWithoutADocumentTakesNoPart(@TempDir dir: Path): Unit = runBlocking {
        Identity.generate().use { me ->
            Node.start(me, options(dir, doc = null)).use { node ->
                val e = assertThrows<BizraException.InvalidInput> { node.propose(proposal(me, 3)) }
                assertContains(e.detail, "no part in consensus")
                assertThrows<BizraException.InvalidInput> { node.decided(1u) }
                assertNull(node.consensusStatus())
                // Its consensus events end at once.
                assertEquals(emptyList(), withTimeout(20_000) { node.consensusEvents().asFlow().toList() })
                node.stop()
                assertThrows<BizraException.InvalidInput> { node.consensusStatus() }
                assertThrows<BizraException.InvalidInput> { node.consensusEvents() }
            }
        }
    }

    @Test
    fun badOptionsNameTheProblem(@TempDir dir: Path) {
        Identity.generate().use { me ->
            fun invalid(opts: NodeOptions, needle: String) {
                val e = assertThrows<BizraException.InvalidInput> { Node.start(me, opts) }
                assertContains(e.detail, needle)
            }
            invalid(options(null), "data_dir")
            documentOf(listOf(me), name = "another").use { doc ->
                invalid(options(dir.resolve("a"), doc = doc), "federation document")
            }
            GateChain().use { gates ->
                invalid(options(dir.resolve("b"), doc = null).copy(gates = gates), "gates is set without document")
            }
        }
    }

    @Test
    fun aRunningNodeHoldsItsGateChain(@TempDir dir: Path) {
        Identity.generate().use { me ->
            documentOf(listOf(me)).use { doc ->
                GateChain().use { gates ->
                    Node.start(me, options(dir, doc = doc).copy(gates = gates)).use { node ->
                        assertEquals(true, node.consensusStatus()?.validator)
                        val e = assertThrows<BizraException.InvalidInput> { gates.setReportAll(true) }
                        assertContains(e.detail, "held by a running node")
                        assertThrows<BizraException.InvalidInput> { gates.addBuiltin(BuiltinKind.SNR) }
                        // Judging with it still works meanwhile.
                        assertTrue(gates.check(proposal(me, 4)).passed)
                        node.stop()
                    }
                    gates.setReportAll(true) // the node let it go
                }
            }
        }
    }

    /** Evidence built from the CONSENSUS-v1 wire vectors: each refusal comes with its code. */
    @Test
    fun evidenceIsCheckedWithItsCode() {
        val vectors: JsonObject = Json.parseToJsonElement(File(vectorsDir, "consensus-v1-vectors.json").readText()).jsonObject
        val wire = vectors.getValue("wire").jsonObject
        val docJson = vectors.getValue("documents").jsonObject.getValue(wire.str("document")).str("json")
        val message = wire.getValue("messages").jsonArray.associate { it.str("name") to unhex(it.str("hex")) }
        val prevote = message.getValue("vote-prevote")
        val validator = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        FederationDocument.fromJson(docJson).use { doc ->
            fun refused(code: Int, first: ByteArray, second: ByteArray, step: EvidenceStep = EvidenceStep.PREVOTE) {
                val evidence = Evidence(validator, 7uL, 0u, step, first, second)
                val e = assertThrows<BizraException.EvidenceRefused> { evidence.verify(doc) }
                assertEquals("EVIDENCE_REFUSED", e.kind)
                assertEquals(code.toUInt(), e.code, "${e.name}: ${e.detail}")
                assertEquals(evidenceCodeName(code.toUInt()), e.name)
                assertTrue(e.detail.isNotEmpty())
            }
            refused(1, prevote, byteArrayOf(1, 2, 3))
            refused(2, prevote, message.getValue("vote-precommit"))
            refused(3, prevote, message.getValue("vote-prevote-nil"))
            refused(5, prevote, prevote.copyOf())
        }
        assertEquals("MALFORMED", evidenceCodeName(1u))
        assertEquals("BAD_SIGNATURE", evidenceCodeName(8u))
        assertNull(evidenceCodeName(0u))
        assertNull(evidenceCodeName(9u))
    }
}
