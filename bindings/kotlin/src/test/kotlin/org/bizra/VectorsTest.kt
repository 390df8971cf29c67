package org.bizra

import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.int
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File
import java.time.Instant
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/** Every vector of tests/vectors/PCI-v1.md, computed by an independent implementation, byte for byte. */
class VectorsTest {
    @Test
    fun constitutionHashAndJcs() {
        val c = vectors.getValue("constitution")
        val text = File(vectorsDir, "constitution-v1.json").readText()
        assertEquals(c.str("jcs"), canonicalize(text))
        Constitution().use { assertEquals(c.str("hash"), it.hashHex()) }
        Constitution.fromJson(text).use { assertEquals(c.str("hash"), it.hashHex()) }
    }

    @TestFactory
    fun identities() = vectors.getValue("identities").jsonArray.mapIndexed { i, v ->
        DynamicTest.dynamicTest("identity $i") {
            Identity.fromSeed(unhex(v.str("seed"))).use { id ->
                assertEquals(v.str("public_key"), id.publicKeyHex())
                assertEquals(v.str("public_key"), hex(id.publicKey()))
                assertEquals(v.str("node_id"), id.nodeId())
                assertEquals("node_" + v.str("node_id").substring(0, 8), id.displayId())
                assertEquals(v.str("pkcs8_pem"), id.toPem())
                Identity.fromPem(v.str("pkcs8_pem")).use { assertEquals(id.publicKeyHex(), it.publicKeyHex()) }
                Identity.fromPem(v.str("seed")).use { assertEquals(id.publicKeyHex(), it.publicKeyHex()) }
            }
        }
    }

    @TestFactory
    fun messages() = vectors.getValue("messages").jsonArray.mapIndexed { i, v ->
        DynamicTest.dynamicTest("message $i") {
            Identity.fromSeed(unhex(v.str("seed"))).use { id ->
                val msg = unhex(v.str("message_hex"))
                val sig = id.signMessage(msg)
                assertEquals(v.str("signature"), hex(sig))
                assertTrue(verifyMessage(id.publicKey(), msg, sig))
                assertFalse(verifyMessage(id.publicKey(), msg + byteArrayOf(0), sig))
            }
        }
    }

    @TestFactory
    fun envelopes() = vectors.getValue("envelopes").jsonArray.map { v ->
        val name = v.str("name")
        DynamicTest.dynamicTest("envelope $name") {
            val wire = v.jsonObject.getValue("envelope").toString()
            Envelope.parse(wire).use { env ->
                assertEquals(v.str("payload_jcs"), env.payloadJson(), "$name: payload JCS")
                assertEquals(v.str("content_hash"), env.contentHashHex(), name)
                assertEquals(v.str("header_jcs"), env.headerJson(), "$name: header JCS")
                assertEquals(v.str("signature"), env.signatureHex(), name)
                env.verify(now = Instant.parse(v.str("verify_at")))

                // Building the same envelope from the seed reproduces the signature byte for byte.
                Identity.fromSeed(unhex(v.str("seed"))).use { id ->
                    val scores = env.scores()
                    val opts = EnvelopeOptions(
                        ttl = env.ttl(),
                        provenance = env.provenance(),
                        snr = scores.snr,
                        ihsan = scores.ihsan,
                        policy = env.policyHex(),
                        timestamp = env.timestamp(),
                        id = env.id(),
                    )
                    Envelope.create(id, env.payloadJson(), opts).use { rebuilt ->
                        assertEquals(v.str("signature"), rebuilt.signatureHex(), "$name: signature")
                        assertEquals(env, rebuilt, name)
                        Envelope.parse(rebuilt.toJson()).use { assertEquals(env, it, name) }
                    }
                }
            }
        }
    }

    @TestFactory
    fun rejects() = vectors.getValue("rejects").jsonArray.map { v ->
        val name = v.str("name")
        DynamicTest.dynamicTest("reject $name") {
            val want = v.jsonObject.getValue("code").jsonPrimitive.int
            val now = Instant.parse(v.str("now"))
            val got = try {
                Envelope.parse(v.str("text")).use { it.verify(now = now) }
                0
            } catch (e: BizraException.Rejected) {
                e.code.toInt()
            }
            assertEquals(want, got, name)
        }
    }
}
