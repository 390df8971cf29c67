package org.bizra

import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** Every kind of the core's error table has exactly one `BizraException` class, which reports it. */
class ErrorKindsTest {
    /** One instance of every subclass (the test below fails when a subclass is missing here). */
    private val samples: List<BizraException> = listOf(
        BizraException.InvalidInput("d"),
        BizraException.Rejected(15u, "HASH_MISMATCH", false, "d"),
        BizraException.CertificateRefused(6u, "BAD_SIGNATURE", "d"),
        BizraException.EvidenceRefused(5u, "NOT_CONFLICTING", "d"),
        BizraException.Key("d"),
        BizraException.Constitution("d"),
        BizraException.Io("d"),
        BizraException.Model("d"),
        BizraException.ModelNotFound("d"),
        BizraException.PromptTooLong(9uL, 8u, "d"),
        BizraException.NoRemotePool("d"),
        BizraException.Inference("d"),
        BizraException.RemoteUnavailable("http://127.0.0.1:1/v1", 0u, "d"),
        BizraException.RemoteRefused("http://127.0.0.1:1/v1", 401u, "d"),
        BizraException.Internal("d"),
        BizraException.Panic("d"),
        BizraException.Busy("d"),
    )

    @Test
    fun everyKindHasItsOwnExceptionClass() {
        val kinds = errorKinds()
        assertEquals(17, kinds.size, "$kinds")
        assertEquals(kinds.sortedBy { it.number }, kinds, "in number order")
        val subclasses = BizraException::class.java.declaredClasses
            .filter { BizraException::class.java.isAssignableFrom(it) }
            .toSet()
        assertEquals(subclasses, samples.map { it.javaClass }.toSet(), "one sample per subclass")
        // Walk the table: each kind is reported by exactly one class, with its number.
        for (kind in kinds) {
            val reporting = samples.filter { it.kind == kind.name }
            assertEquals(1, reporting.size, "${kind.name}: $reporting")
            assertEquals(kind, reporting.single().errorKind())
        }
        assertEquals(kinds.map { it.name }.toSet(), samples.map { it.kind }.toSet())
        samples.forEach { assertEquals("d", it.detail, "${it.javaClass.simpleName}") }
    }

    @Test
    fun errorsFromTheLibraryCarryTheirKind() {
        assertEquals("INVALID_INPUT", assertThrows<BizraException.InvalidInput> { Identity.fromSeed(ByteArray(31)) }.kind)
        assertEquals("KEY", assertThrows<BizraException.Key> { Identity.fromPem("not a key") }.kind)
        assertEquals("CONSTITUTION", assertThrows<BizraException.Constitution> { Constitution.fromJson("""{"version":"x"}""") }.kind)
        val io = assertThrows<BizraException.Io> { Identity.load("/nonexistent/bizra/key.pem") }
        assertEquals("IO", io.kind)
        assertTrue(io.detail.contains("/nonexistent/bizra/key.pem"), io.detail)
        val model = assertThrows<BizraException.Model> { Model.load("/nonexistent/bizra/model.gguf") }
        assertEquals("MODEL", model.kind)
        val rejected: BizraException = assertThrows<BizraException.Rejected> { Envelope.parse("{") }
        assertEquals("REJECTED", rejected.kind)
        assertTrue(rejected.detail.isNotEmpty())
    }
}
