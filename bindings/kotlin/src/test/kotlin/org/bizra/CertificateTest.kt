package org.bizra

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.assertThrows
import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Commit certificates verified offline (tests/vectors/CONSENSUS-v1.md), no node running: both
 * federation documents and their hashes, every certificate vector (computed independently of
 * bizra) with its verdict, every one-byte mutation of a valid certificate refused with a code,
 * and arguments that are not documents or batches.
 */
class CertificateTest {
    private val consensus: JsonObject by lazy {
        Json.parseToJsonElement(File(vectorsDir, "consensus-v1-vectors.json").readText()).jsonObject
    }

    private fun documentJson(name: String): String =
        consensus.getValue("documents").jsonObject.getValue(name).str("json")

    private fun batchJson(name: String): String =
        consensus.getValue("batches").jsonArray.single { it.str("name") == name }.str("json")

    private fun certificateJson(name: String): String =
        consensus.getValue("certificates").jsonArray.single { it.str("name") == name }.str("json")

    /** Reads and verifies one case as the vectors state it; throws what the binding throws. */
    private fun verdict(json: String, document: FederationDocument, batch: String?): Certificate {
        val cert = Certificate.fromJson(json)
        if (batch != null) cert.verifyBatch(batchJson(batch), document) else cert.verify(document)
        return cert
    }

    @TestFactory
    fun documents() = consensus.getValue("documents").jsonObject.map { (name, v) ->
        DynamicTest.dynamicTest("document $name") {
            val json = v.str("json")
            val fields = Json.parseToJsonElement(json).jsonObject
            val validators = fields.getValue("validators").jsonArray.map {
                Validator(it.str("key"), it.jsonObject.getValue("power").jsonPrimitive.long.toULong())
            }
            FederationDocument.fromJson(json).use { doc ->
                assertEquals(v.str("hash"), doc.hashHex())
                assertEquals(v.str("hash"), hex(doc.hashBytes()))
                assertEquals(json, doc.toJson(), "the vectors' JSON is canonical")
                assertEquals(fields.str("federation"), doc.federation())
                assertEquals(fields.getValue("epoch").jsonPrimitive.long.toULong(), doc.epoch())
                assertEquals(validators, doc.validators())
                assertEquals(validators.sumOf { it.power }, doc.totalPower())
                FederationDocument.fromJson(json).use { again -> assertEquals(doc, again) }
            }
        }
    }

    @TestFactory
    fun certificates() = consensus.getValue("certificates").jsonArray.map { v ->
        val name = v.str("name")
        DynamicTest.dynamicTest("certificate $name") {
            val json = v.str("json")
            val expect = v.str("expect")
            val batch = v.jsonObject["batch"]?.jsonPrimitive?.content
            FederationDocument.fromJson(documentJson(v.str("document"))).use { doc ->
                if (expect == "ok") {
                    verdict(json, doc, batch).use { cert ->
                        assertEquals(json, cert.toJson(), "$name: canonical form")
                        assertEquals(doc.federation(), cert.federation())
                        assertEquals(doc.epoch(), cert.epoch())
                        if (batch != null) {
                            val id = consensus.getValue("batches").jsonArray.single { it.str("name") == batch }.str("id")
                            assertEquals(id, cert.valueHex())
                        }
                    }
                } else {
                    val e = assertThrows<BizraException.CertificateRefused> { verdict(json, doc, batch).close() }
                    assertEquals(expect, e.name, "$name: ${e.detail}")
                    assertEquals(expect, certificateCodeName(e.code))
                    assertEquals("CERTIFICATE_REFUSED", e.kind)
                    assertTrue(e.detail.isNotEmpty(), name)
                }
            }
        }
    }

    /** The vectors hold 25 cases and exercise every refusal code. */
    @Test
    fun everyCodeIsExercised() {
        val cases = consensus.getValue("certificates").jsonArray
        assertEquals(25, cases.size)
        val codes = (1u..8u).map { certificateCodeName(it) }
        assertEquals(
            listOf("MALFORMED", "WRONG_FEDERATION", "WRONG_EPOCH", "UNKNOWN_SIGNER", "DUPLICATE_SIGNER",
                "BAD_SIGNATURE", "INSUFFICIENT_POWER", "VALUE_MISMATCH"),
            codes,
        )
        assertNull(certificateCodeName(0u))
        assertNull(certificateCodeName(9u))
        assertEquals(codes.toSet(), cases.map { it.str("expect") }.filter { it != "ok" }.toSet())
    }

    /** Every one-byte change of a valid certificate's canonical text is refused, with a code. */
    @Test
    fun everyMutationIsRefused() {
        val json = certificateJson("three-of-four")
        FederationDocument.fromJson(documentJson("equal")).use { doc ->
            for (i in json.indices) {
                val mutated = json.substring(0, i) + Char(json[i].code xor 1) + json.substring(i + 1)
                val e = assertThrows<BizraException.CertificateRefused>("byte $i still verifies") {
                    verdict(mutated, doc, null).close()
                }
                assertTrue(e.code in 1u..8u, "byte $i: ${e.code}")
            }
            verdict(json, doc, null).close()
        }
    }

    @Test
    fun accessorsAndBatches() {
        FederationDocument.fromJson(documentJson("equal")).use { doc ->
            Certificate.fromJson(certificateJson("round-two")).use { cert ->
                assertEquals(2u, cert.round())
                assertTrue(cert.height() > 0uL)
                assertTrue(cert.signatureCount() >= 3uL)
                cert.verifyBatch(batchJson("one"), doc)
                val e = assertThrows<BizraException.CertificateRefused> { cert.verifyBatch(batchJson("two"), doc) }
                assertEquals(8u, e.code)
                assertEquals("VALUE_MISMATCH", e.name)
                assertTrue(e.detail.contains(cert.valueHex()), e.detail)
                Certificate.fromJson(cert.toJson()).use { again -> assertEquals(cert, again) }
            }
        }
    }

    @Test
    fun argumentsThatAreNotDocumentsOrBatches() {
        val notJson = assertThrows<BizraException.InvalidInput> { FederationDocument.fromJson("{") }
        assertTrue(notJson.detail.contains("not I-JSON"), notJson.detail)
        val extra = assertThrows<BizraException.InvalidInput> {
            FederationDocument.fromJson("""{"epoch":1,"federation":"f","validators":[],"quorum":3}""")
        }
        assertTrue(extra.detail.contains("unknown field \"quorum\""), extra.detail)
        val malformed = assertThrows<BizraException.CertificateRefused> { Certificate.fromJson("[]") }
        assertEquals(1u, malformed.code)
        assertEquals("MALFORMED", malformed.name)
        assertTrue(malformed.detail.contains("JSON object"), malformed.detail)
        FederationDocument.fromJson(documentJson("equal")).use { doc ->
            Certificate.fromJson(certificateJson("three-of-four")).use { cert ->
                // A batch that cannot be read is a wrong argument, not a refused certificate.
                val batch = assertThrows<BizraException.InvalidInput> { cert.verifyBatch("[1]", doc) }
                assertTrue(batch.detail.contains("batch[0]"), batch.detail)
                // A closed certificate refuses use. (A closed object passed as an argument is not
                // checked by UniFFI 0.32's generated code: never pass one.)
                cert.close()
                assertThrows<IllegalStateException> { cert.verify(doc) }
            }
        }
    }
}
