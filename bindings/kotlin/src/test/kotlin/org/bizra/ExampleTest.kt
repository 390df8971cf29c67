package org.bizra

import org.junit.jupiter.api.Test
import java.io.ByteArrayOutputStream
import java.io.PrintStream
import kotlin.test.assertTrue

/** Runs examples/kotlin/Quickstart.kt (compiled with the tests) and checks what it prints. */
class ExampleTest {
    @Test
    fun quickstartRuns() {
        val out = ByteArrayOutputStream()
        val saved = System.out
        System.setOut(PrintStream(out, true))
        try {
            org.bizra.examples.main()
        } finally {
            System.setOut(saved)
        }
        val text = out.toString()
        print(text.lines().joinToString("\n") { "  example| $it" } + "\n")
        assertTrue(text.contains("verified pci_"), text)
        assertTrue(text.contains("gates    passed=true"), text)
        assertTrue(text.contains("rejected PCI-15 HASH_MISMATCH"), text)
    }
}
