package org.bizra

import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path
import java.time.Instant
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/** The behaviour tests of the core, through the Kotlin binding. */
class BehaviourTest {
    private val t0: Instant = Instant.parse("2026-01-30T00:00:00.000Z")

    private fun signed(
        id: Identity,
        payload: String = """{"answer":4}""",
        ttl: Long = 60,
        snr: Double? = 0.93,
        ihsan: Double? = 0.97,
    ): Envelope = Envelope.create(id, payload, EnvelopeOptions(ttl = ttl, snr = snr, ihsan = ihsan, timestamp = t0))

    @Test
    fun lifecycle() {
        Identity.generate().use { id ->
            Envelope.create(id, """{"answer": 4, "pi": 3.0}""").use { env ->
                env.verify()
                assertTrue(env.id().startsWith("pci_"))
                assertEquals(36, env.id().length)
                assertEquals(id.nodeId(), env.sender())
                assertContentEquals(id.publicKey(), env.publicKey())
                assertEquals("1.0", env.version())
                assertEquals(3600L, env.ttl())
                assertEquals(env.timestamp().plusSeconds(3600), env.expiresAt())
                assertEquals(Constitution().use { it.hashHex() }, env.policyHex())
                assertEquals("""{"answer":4,"pi":3}""", env.payloadJson())
                assertEquals(Scores(snr = null, ihsan = null), env.scores())
                assertEquals(env.toJson(), env.toString())
                Envelope.parse(env.toJson()).use { back ->
                    assertEquals(env, back)
                    back.verify()
                }
            }
        }
    }

    @Test
    fun closedObjectsRefuseUse() {
        val id = Identity.generate()
        id.close()
        assertThrows<IllegalStateException> { id.nodeId() }
        id.close() // twice is harmless
    }

    @Test
    fun keysPemAndFiles(@TempDir dir: Path) {
        Identity.generate().use { id ->
            val enc = id.toPem("correct horse")
            assertTrue(enc.startsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
            Identity.fromPem(enc, "correct horse").use { assertEquals(id.nodeId(), it.nodeId()) }
            assertThrows<BizraException.Key> { Identity.fromPem(enc, "wrong") }
            assertThrows<BizraException.Key> { Identity.fromPem("not a key") }
            val file = dir.resolve("node.pem").toString()
            id.save(file)
            Identity.load(file).use { assertEquals(id.nodeId(), it.nodeId()) }
            assertThrows<BizraException.Io> { Identity.load(dir.resolve("missing.pem").toString()) }
            // An existing key file is refused unless asked to overwrite, and stays as it was.
            Identity.generate().use { other ->
                val refused = assertThrows<BizraException.Io> { other.save(file, "pw") }
                assertEquals("IO", refused.kind)
                assertTrue(refused.detail.contains(file), refused.detail)
                Identity.load(file).use { assertEquals(id.nodeId(), it.nodeId()) }
                other.save(file, "pw", overwrite = true)
                assertThrows<BizraException.Key> { Identity.load(file) }
                Identity.load(file, "pw").use { assertEquals(other.nodeId(), it.nodeId()) }
            }
        }
        assertThrows<BizraException.InvalidInput> { Identity.fromSeed(ByteArray(31)) }
    }

    @Test
    fun invalidInputIsNotARejection() {
        Identity.generate().use { id ->
            assertThrows<BizraException.InvalidInput> { Envelope.create(id, """{"a":1,"a":2}""") }
            assertThrows<BizraException.InvalidInput> { Envelope.create(id, "{", EnvelopeOptions()) }
            assertThrows<BizraException.InvalidInput> { Envelope.create(id, "1", EnvelopeOptions(ttl = 0)) }
            assertThrows<BizraException.InvalidInput> { Envelope.create(id, "1", EnvelopeOptions(snr = 1.5)) }
            assertThrows<BizraException.InvalidInput> { Envelope.create(id, "1", EnvelopeOptions(policy = "zz")) }
            assertThrows<BizraException.InvalidInput> { Envelope.create(id, "1", EnvelopeOptions(id = "pci_x")) }
            assertThrows<BizraException.InvalidInput> { canonicalize("[9007199254740992]") }
        }
    }

    @Test
    fun tamperingHasTheSpecCodes() {
        Identity.generate().use { id ->
            Identity.generate().use { other ->
                signed(id, """{"n":1}""").use { env ->
                    val wire = env.toJson()
                    val at = t0.plusSeconds(1)
                    fun verdict(text: String, code: Int) =
                        assertRejected(code) { Envelope.parse(text).use { it.verify(now = at) } }
                    verdict(wire.replace(""""n":1""", """"n":2"""), 15)
                    verdict(wire.replace(""""sender":"${id.nodeId()}"""", """"sender":"${other.nodeId()}""""), 14)
                    val sig = env.signatureHex()
                    val flipped = (if (sig[0] == '0') "1" else "0") + sig.substring(1)
                    verdict(wire.replace(sig, flipped), 10)
                    verdict(wire.replace(""""ttl":60""", """"ttl":0"""), 16)
                    verdict(wire.replace(""""ttl":60""", """"ttl":3601"""), 16)
                    verdict("{\"extra\":1," + wire.substring(1), 1)
                    verdict(wire.replace(Regex(""""policy":"[0-9a-f]{64}","""), ""), 2)
                    verdict("[]", 1)
                    verdict("not json", 1)
                    Envelope.parse(wire).use { it.verify(now = at) }
                }
            }
        }
    }

    @Test
    fun expiryAndFutureWithInjectedTime() {
        Identity.generate().use { id ->
            signed(id, ttl = 60).use { env ->
                env.verify(now = t0)
                env.verify(now = t0.plusSeconds(60))
                val e = assertRejected(11) { env.verify(now = t0.plusSeconds(61)) }
                assertEquals("EXPIRED", e.name)
                env.verify(now = t0.minusSeconds(120))
                assertRejected(13) { env.verify(now = t0.minusSeconds(121)) }
            }
        }
    }

    @Test
    fun policyMismatch() {
        Identity.generate().use { id ->
            signed(id).use { env ->
                env.verify(now = t0, policy = Constitution().use { it.hashHex() })
                assertRejected(17) { env.verify(now = t0, policy = "ab".repeat(32)) }
            }
        }
    }

    @Test
    fun replayCache() {
        Identity.generate().use { id ->
            ReplayCache(capacity = 10uL).use { cache ->
                assertTrue(cache.isEmpty())
                signed(id).use { env ->
                    env.verify(now = t0, replay = cache)
                    assertTrue(cache.contains(env.id(), now = t0))
                    assertEquals(1uL, cache.len())
                    assertRejected(12) { env.verify(now = t0, replay = cache) }
                    cache.purgeExpired(now = t0.plusSeconds(3600))
                    assertFalse(cache.contains(env.id(), now = t0.plusSeconds(3600)))
                }
            }
        }
    }

    @Test
    fun batchVerifyGivesTheSingleVerdicts() {
        Identity.generate().use { id ->
            val good = signed(id)
            val tampered = Envelope.parse(good.toJson().replace(""""answer":4""", """"answer":5"""))
            val expired = Envelope.create(id, "1", EnvelopeOptions(ttl = 1, timestamp = t0.minusSeconds(10)))
            ReplayCache().use { cache ->
                val verdicts = verifyBatch(listOf(good, tampered, expired, good), now = t0, replay = cache)
                assertEquals(4, verdicts.size)
                assertNull(verdicts[0])
                assertEquals(15u, verdicts[1]?.code)
                assertEquals("HASH_MISMATCH", verdicts[1]?.name)
                assertEquals(11u, verdicts[2]?.code)
                assertEquals(12u, verdicts[3]?.code)
            }
            listOf(good, tampered, expired).forEach { it.close() }
        }
    }

    @Test
    fun gateChainBuiltins() {
        Identity.generate().use { id ->
            GateChain().use { chain ->
                assertEquals(7, chain.gateNames().size)
                signed(id).use { env ->
                    val report = chain.check(env, now = t0)
                    assertTrue(report.passed, report.toString())
                    assertNull(report.code)
                    assertNull(report.firstFailure())
                    report.throwIfRefused()
                    // check only observes: it passes again, and admit then admits it once.
                    assertTrue(chain.check(env, now = t0).passed)
                    chain.admit(env, now = t0)
                    // Admitted once: the chain's replay gate refuses the second time.
                    val replayed = chain.check(env, now = t0)
                    assertEquals(12u, replayed.code)
                    assertEquals("replay", replayed.firstFailure()?.name)
                    assertEquals("REPLAY", assertRejected(12) { replayed.throwIfRefused() }.name)
                    assertRejected(12) { chain.admit(env, now = t0) }
                }
                signed(id, snr = 0.5).use { assertEquals(23u, chain.check(it, now = t0).code) }
                signed(id, ihsan = 0.5).use { assertEquals(25u, chain.check(it, now = t0).code) }
                signed(id, snr = null).use { assertRejected(23) { chain.admit(it, now = t0) } }
            }
        }
    }

    @Test
    fun payloadSchemaGate() {
        Identity.generate().use { id ->
            GateChain().use { chain ->
                chain.setPayloadSchema("""{"type":"object","required":["answer"]}""")
                signed(id, """{"answer":4}""").use { assertTrue(chain.check(it, now = t0).passed) }
                signed(id, """{"other":4}""").use { assertEquals(20u, chain.check(it, now = t0).code) }
                assertThrows<BizraException.InvalidInput> { chain.setPayloadSchema("{") }
            }
        }
    }

    @Test
    fun kotlinCustomGate() {
        val seen = mutableListOf<String>()
        val gate = object : CustomGate {
            override fun check(envelope: Envelope, now: Instant): String? = envelope.use {
                seen.add(it.id())
                assertEquals(t0, now)
                if (it.payloadJson().contains("forbidden")) "payload says forbidden" else null
            }
        }
        Identity.generate().use { id ->
            GateChain().use { chain ->
                chain.addGate("no-forbidden", GateTier.CHEAP, gate)
                assertTrue("no-forbidden" in chain.gateNames())
                // Built-in gates (the signature among them) run before every custom gate.
                assertEquals("no-forbidden", chain.gateNames().last())
                signed(id, """{"text":"fine"}""").use { assertTrue(chain.check(it, now = t0).passed) }
                signed(id, """{"text":"forbidden"}""").use { env ->
                    val report = chain.check(env, now = t0)
                    assertFalse(report.passed)
                    assertEquals(24u, report.code)
                    val failed = assertNotNull(report.firstFailure())
                    assertEquals(report.results.first { !it.passed }, failed)
                    assertEquals("no-forbidden", failed.name)
                    assertEquals("GATE_CUSTOM", failed.codeName)
                    assertEquals(GateTier.CHEAP, failed.tier)
                    assertTrue(failed.detail!!.contains("payload says forbidden"))
                }
                signed(id, """{"text":"forbidden"}""").use { env ->
                    val e = assertRejected(24) { chain.admit(env, now = t0) }
                    assertTrue(e.detail.contains("no-forbidden"))
                }
            }
        }
        assertEquals(3, seen.size)
    }

    @Test
    fun throwingGateRefusesNeverAdmits() {
        val gate = object : CustomGate {
            override fun check(envelope: Envelope, now: Instant): String? {
                envelope.close()
                throw IllegalStateException("boom")
            }
        }
        val typed = object : CustomGate {
            override fun check(envelope: Envelope, now: Instant): String? {
                envelope.close()
                throw BizraException.InvalidInput("typed failure")
            }
        }
        Identity.generate().use { id ->
            for (g in listOf(gate, typed)) {
                GateChain().use { chain ->
                    chain.addGate("broken", GateTier.EXPENSIVE, g)
                    signed(id).use { env ->
                        val report = chain.check(env, now = t0)
                        assertFalse(report.passed)
                        assertEquals(24u, report.code)
                    }
                }
            }
        }
    }

    @Test
    fun emptyChainAndSharedReplayCache() {
        Identity.generate().use { id ->
            Constitution().use { c ->
                GateChain.empty(c).use { chain ->
                    assertTrue(chain.gateNames().isEmpty())
                    chain.addBuiltin(BuiltinKind.SIGNATURE)
                    chain.addBuiltin(BuiltinKind.REPLAY)
                    chain.addBuiltin(BuiltinKind.REPLAY)
                    assertEquals(2, chain.gateNames().size)
                    ReplayCache().use { cache ->
                        chain.setReplayCache(cache)
                        signed(id).use { env ->
                            env.verify(now = t0, replay = cache)
                            assertEquals(12u, chain.check(env, now = t0).code)
                        }
                    }
                    chain.constitution().use { assertEquals(c, it) }
                }
            }
        }
    }

    @Test
    fun constitution(@TempDir dir: Path) {
        Constitution().use { c ->
            assertEquals(vectors.getValue("constitution").str("hash"), c.hashHex())
            assertEquals(32, c.hashBytes().size)
            assertTrue(c.snrThreshold() in 0.0..1.0)
            assertTrue(c.ihsanMinimum() in 0.0..1.0)
            assertEquals(3600L, c.maxTtlSeconds())
            assertEquals(120L, c.maxClockSkewSeconds())
            assertTrue(c.rules().any { it.id == "IHSAN_001" })
            val good = c.check(ComplianceInput(snr = 0.99, ihsan = 0.99, hasSignature = true, hasProvenance = true))
            assertTrue(good.compliant, good.toString())
            val missing = c.check(ComplianceInput())
            assertFalse(missing.compliant)
            assertTrue(missing.rules.any { it.id == "IHSAN_001" && !it.passed && it.value == null })
            val file = File(dir.toFile(), "c.json")
            File(vectorsDir, "constitution-v1.json").copyTo(file)
            Constitution.load(file.path).use { assertEquals(c, it) }
        }
        assertThrows<BizraException.Constitution> { Constitution.fromJson("""{"version":"x"}""") }
        assertThrows<BizraException.Io> { Constitution.load("/nonexistent/c.json") }
        assertEquals(3uL, quorum(3uL))
        assertEquals(7uL, quorum(10uL))
    }

    @Test
    fun tiers() {
        assertEquals(TaskComplexity.SIMPLE, estimateComplexity("What is 2+2?", 64u))
        val d = selectTier("What is 2+2?", 64u)
        assertEquals(ModelTier.EDGE, d.tier)
        assertFalse(d.forced)
        assertEquals(TaskComplexity.EXPERT, selectTier("hi", 4000u).complexity)
        val forced = selectTier("What is 2+2?", 64u, forced = ModelTier.POOL)
        assertTrue(forced.forced)
        assertEquals(ModelTier.POOL, forced.tier)
        assertEquals(TaskComplexity.COMPLEX, estimateComplexity("```\ncode\n```", 64u))

        val small = HardwareProfile(2uL, 2uL, 4uL shl 30, 2uL shl 30, 0uL, emptyList())
        assertEquals(ModelTier.EDGE, small.maxLocalTier())
        assertTrue(small.canServe(ModelTier.EDGE))
        assertFalse(small.canServe(ModelTier.LOCAL))
        val gpu = small.copy(gpus = listOf(GpuInfo("H100", 80uL shl 30, 79uL shl 30)))
        assertEquals(ModelTier.LOCAL, gpu.maxLocalTier())
        assertNull(small.copy(ramAvailableBytes = 0uL).maxLocalTier())
        val here = detectHardware()
        assertTrue(here.logicalCpus >= 1uL)
        assertNotNull(here.gpus)
    }

    @Test
    fun openParsesAndVerifiesInOneCall() {
        Identity.generate().use { id ->
            val wire = signed(id, ttl = 60).use { it.toJson() }
            Envelope.open(wire, now = t0).use { env ->
                assertEquals(wire, env.toJson())
                assertEquals(id.nodeId(), env.sender())
            }
            assertRejected(1) { Envelope.open("{", now = t0) }
            assertRejected(15) { Envelope.open(wire.replace(""""answer":4""", """"answer":5"""), now = t0) }
            assertRejected(11) { Envelope.open(wire, now = t0.plusSeconds(61)) }
            assertRejected(17) { Envelope.open(wire, now = t0, policy = "ab".repeat(32)) }
            ReplayCache().use { cache ->
                Envelope.open(wire, now = t0, replay = cache).close()
                assertRejected(12) { Envelope.open(wire, now = t0, replay = cache) }
            }
        }
    }

    @Test
    fun replayCacheCapacity() {
        val e = assertThrows<BizraException.InvalidInput> { ReplayCache(capacity = 0uL) }
        assertEquals("INVALID_INPUT", e.kind)
        assertTrue(e.detail.contains("capacity"), e.detail)
        ReplayCache().use { assertTrue(it.capacity() > 1uL) } // the core's default
        Identity.generate().use { id ->
            // A full cache refuses with QUOTA, which is retryable; a forged signature is not.
            ReplayCache(capacity = 1uL).use { cache ->
                signed(id, """{"n":1}""").use { it.verify(now = t0, replay = cache) }
                val full = assertRejected(40) { signed(id, """{"n":2}""").use { it.verify(now = t0, replay = cache) } }
                assertTrue(full.retryable)
                assertEquals("REJECTED", full.kind)
            }
            val wire = signed(id).use { it.toJson() }
            val sig = Regex(""""signature":"([0-9a-f])""").find(wire)!!.groupValues[1]
            val forged = wire.replace(""""signature":"$sig""", """"signature":"${if (sig == "0") "1" else "0"}""")
            assertFalse(assertRejected(10) { Envelope.open(forged, now = t0) }.retryable)
        }
    }

    @Test
    fun rejectCodes() {
        assertEquals("SUCCESS", rejectCodeName(0u))
        assertEquals("EXPIRED", rejectCodeName(11u))
        assertEquals("GATE_CUSTOM", rejectCodeName(24u))
        assertNull(rejectCodeName(3u))
        assertTrue(rejectCodeIsRetryable(22u))
        assertFalse(rejectCodeIsRetryable(10u))
        assertNotNull(rejectCodeDescription(12u))
        assertTrue(version().isNotEmpty())
    }
}
