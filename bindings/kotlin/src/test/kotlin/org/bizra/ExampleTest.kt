package org.bizra

import org.junit.jupiter.api.Test
import java.io.ByteArrayOutputStream
import java.io.PrintStream
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** Runs the programs of examples/kotlin (compiled with the tests) and checks what they print. */
class ExampleTest {
    private fun printed(name: String, program: () -> Unit): String {
        val out = ByteArrayOutputStream()
        val saved = System.out
        System.setOut(PrintStream(out, true))
        try {
            program()
        } finally {
            System.setOut(saved)
        }
        val text = out.toString()
        print(text.lines().joinToString("\n") { "  $name| $it" } + "\n")
        return text
    }

    @Test
    fun quickstartRuns() {
        val text = printed("example") { org.bizra.examples.main() }
        assertTrue(text.contains("verified pci_"), text)
        assertTrue(text.contains("gates    passed=true"), text)
        assertTrue(text.contains("again    REPLAY (retryable=false)"), text)
        assertTrue(text.contains("rejected PCI-15 HASH_MISMATCH"), text)
        assertTrue(text.contains("(REJECTED)"), text)
    }

    @Test
    fun inferenceRuns() {
        val text = printed("inference") { org.bizra.examples.inference.main(arrayOf(testModelPath)) }
        assertTrue(Regex("answer +.*Paris").containsMatchIn(text), text)
        // The unvouched answer is refused by the Ihsan gate, the vouched one admitted.
        assertTrue(text.contains("gates    passed=false (ihsan: PCI-25 GATE_IHSAN"), text)
        assertTrue(text.contains("gates    passed=true"), text)
        assertEquals(2, Regex("verified pci_").findAll(text).count(), text)
    }

    @Test
    fun federationRuns() {
        val text = printed("federation") { org.bizra.examples.federation.main() }
        assertTrue(Regex("b sees [0-9a-f]{32} joined at 127\\.0\\.0\\.1:").containsMatchIn(text), text)
        assertTrue(Regex("a sees [0-9a-f]{32} joined").containsMatchIn(text), text)
        assertTrue(Regex("member [0-9a-f]{32} 127\\.0\\.0\\.1:\\d+ generation \\d+ alive").containsMatchIn(text), text)
        assertTrue(Regex("a sees [0-9a-f]{32} left").containsMatchIn(text), text)
    }

    @Test
    fun consensusRuns() {
        val text = printed("consensus") { org.bizra.examples.consensus.main() }
        assertTrue(text.contains("4 validators linked"), text)
        assertTrue(Regex("proposed pci_[0-9a-f]{32}: new=true").containsMatchIn(text), text)
        // Every node decided height 1 with a certificate that verifies.
        assertEquals(4, Regex("node \\d decided height 1 round \\d+: \\[pci_[0-9a-f]{32}\\] \\(certificate verified").findAll(text).count(), text)
        assertTrue(Regex("stored   height 1 value [0-9a-f]{64}").containsMatchIn(text), text)
        assertTrue(text.contains("again    new=false"), text)
    }
}
