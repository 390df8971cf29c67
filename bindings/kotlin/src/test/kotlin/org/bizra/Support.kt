package org.bizra

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.assertThrows
import java.io.File
import kotlin.test.assertEquals

/** The spec's directory (tests/vectors), from the `bizra.vectors` system property. */
val vectorsDir: File = File(System.getProperty("bizra.vectors") ?: "../../tests/vectors")

val vectors: JsonObject by lazy {
    Json.parseToJsonElement(File(vectorsDir, "pci-v1-vectors.json").readText()).jsonObject
}

fun JsonElement.str(key: String): String = jsonObject.getValue(key).jsonPrimitive.content

fun hex(bytes: ByteArray): String = bytes.joinToString("") { "%02x".format(it) }

fun unhex(s: String): ByteArray = ByteArray(s.length / 2) { s.substring(2 * it, 2 * it + 2).toInt(16).toByte() }

/** Runs [block], which must throw `Rejected` with [code]; returns the exception. */
fun assertRejected(code: Int, block: () -> Unit): BizraException.Rejected {
    val e = assertThrows<BizraException.Rejected> { block() }
    assertEquals(code.toUInt(), e.code, "reject code (${e.name}: ${e.detail})")
    assertEquals(rejectCodeName(code.toUInt()), e.name)
    return e
}

/**
 * The real test model (SmolLM2-135M-Instruct Q4_1): `$BIZRA_TEST_MODEL`, which the Makefile
 * exports, else the cache. Fails, never skips, when it is absent.
 */
val testModelPath: String by lazy {
    val cache = System.getenv("BIZRA_CACHE") ?: "${System.getProperty("user.home")}/.cache/bizra"
    val path = System.getenv("BIZRA_TEST_MODEL")?.takeIf { it.isNotEmpty() }
        ?: "$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    check(File(path).isFile) {
        "the test model is missing at $path: run `make model` (or set BIZRA_TEST_MODEL to a copy of it)"
    }
    path
}
