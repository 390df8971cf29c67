package org.bizra

import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path
import kotlin.math.abs
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The autopoiesis store through the binding: the core decides; these tests check that its rules,
 * records and errors reach Kotlin intact, and that the real model embeds through it.
 */
class StoreTest {
    private val me = Identity.fromSeed(ByteArray(32) { 5 })

    private fun pattern(content: String): Envelope =
        Envelope.create(me, """{"type":"bizra.pattern","content":"$content"}""")

    @Test
    fun learnRecallFeedbackAndBadInput() {
        Store.inMemory().use { store ->
            assertNull(store.dimension())
            val a = pattern("water boils at 100 C")
            val first = store.learn(a, listOf(0.6f, 0.8f, 0f), listOf("physics"))
            assertEquals(LearnedKind.NEW, first.learned)
            assertEquals(3u, store.dimension())
            assertEquals(Learning(first.id, LearnedKind.OBSERVED), store.learn(pattern("water boils at 100 C"), listOf(0.6f, 0.8f, 0f)))
            assertEquals(Learning(first.id, LearnedKind.ALREADY_KNOWN), store.learn(a, listOf(0.6f, 0.8f, 0f)))
            store.learn(pattern("salt dissolves"), listOf(0f, 0f, 1f))

            val hits = store.recall(listOf(0.5f, 0.8f, 0.1f), k = 1u)
            assertEquals(listOf(first.id), hits.map { it.pattern.id })
            assertEquals("water boils at 100 C", hits[0].pattern.content)
            assertEquals(listOf("physics"), hits[0].pattern.tags)
            assertEquals(2uL, hits[0].pattern.observations)
            assertTrue(hits[0].similarity > 0.99f)
            assertEquals(emptyList(), store.recall(listOf(0.5f, 0.8f, 0.1f), threshold = 0.995f))

            assertTrue(abs(store.feedback(first.id, true) - 0.55) < 1e-12)
            assertTrue(abs(store.feedback(first.id, false) - 0.52) < 1e-12)
            assertEquals(1uL, store.get(first.id)!!.positive)
            assertNull(store.get(9999))
            val unknown = assertThrows<BizraException.InvalidInput> { store.feedback(9999, true) }
            assertContains(unknown.detail, "no pattern with id 9999")

            val third = pattern("a third")
            assertContains(assertThrows<BizraException.InvalidInput> { store.learn(third, listOf(1f, 0f)) }.detail, "2 dimensions")
            assertThrows<BizraException.InvalidInput> { store.learn(third, listOf(Float.NaN, 0f, 1f)) }
            val cache = ReplayCache(16uL)
            store.learn(third, listOf(1f, 0f, 0f), replay = cache)
            assertRejected(12) { store.learn(third, listOf(1f, 0f, 0f), replay = cache) }
            assertEquals(3uL, store.size())

            assertEquals(emptyList(), store.elevateLocal())
            assertEquals(listOf(first.id), store.elevateLocal(threshold = 0.5, minObservations = 2uL))
            assertEquals(listOf<Elevation>(Elevation.Local), store.elevated().map { it.elevation })
        }
    }

    @Test
    fun preferencesReinforceAndShapeThePrompt() {
        Store.inMemory().use { store ->
            assertNull(store.preference("style", "tone"))
            var c = 0.0
            repeat(6) { c = store.observePreference("style", "tone", "concise") }
            assertTrue(abs(c - 0.704755) < 1e-6)
            assertEquals(0.5, store.observePreference("style", "tone", "verbose"))
            assertEquals("concise", store.preference("style", "tone")!!.value)
            assertEquals(listOf("concise"), store.activePreferences().map { it.value })
            assertEquals("You are helpful.\n\nUser preferences:\n- style.tone: concise", store.applyPreferences("You are helpful."))
            assertThrows<BizraException.InvalidInput> { store.observePreference("", "tone", "x") }
        }
    }

    @Test
    fun exportImportFilesAndATamperedLine(@TempDir dir: Path) {
        val path = dir.resolve("memory.sqlite").toString()
        val text = Store.open(path).use { store ->
            store.learn(pattern("first"), listOf(1f, 0f))
            store.learn(pattern("second"), listOf(0f, 1f))
            store.exportJsonl(me)
        }
        assertEquals(2, text.trim().lines().size)
        Store.open(path).use { reopened ->
            assertEquals(listOf("second"), reopened.recall(listOf(0f, 1f), k = 1u).map { it.pattern.content })
        }
        Store.open(dir.resolve("other.sqlite").toString()).use { other ->
            assertEquals(ImportReport(2uL, 2uL, 0uL, 0uL), other.importJsonl(text))
            assertEquals(2uL, other.importJsonl(text).alreadyKnown)
        }
        Store.inMemory().use { fresh ->
            val (l1, l2) = text.trim().lines()
            val refused = assertRejected(15) { fresh.importJsonl("$l1\n${l2.replace("\"second\"", "\"Second\"")}\n") }
            assertContains(refused.detail, "import line 2")
            assertEquals(0uL, fresh.size())
        }
        val notAStore = File(dir.toFile(), "patterns.jsonl").apply { writeText(text) }
        assertThrows<BizraException.Io> { Store.open(notAStore.path) }
        assertEquals(text, notAStore.readText())
    }

    @Test
    fun learningAndRecallingWithTheModel() {
        Model.load(testModelPath, ModelOptions(nCtx = 512u, threads = 2u)).use { model ->
            Store.inMemory().use { store ->
                val texts = listOf(
                    "The cat is sleeping on the sofa.",
                    "Paris is the capital of France.",
                    "Quantum computers use qubits.",
                    "The recipe needs two cups of flour.",
                )
                for (t in texts) assertEquals(LearnedKind.NEW, store.learnWith(model, pattern(t)).learned)
                assertEquals(model.embed(texts[0]).size.toUInt(), store.dimension())
                var hits = store.recallText(model, "A cat naps on the couch.", k = 2u, threshold = -1f)
                assertEquals(texts[0], hits[0].pattern.content)
                assertTrue(hits[0].similarity > hits[1].similarity)
                hits = store.recallText(model, "France's capital city is Paris.", k = 1u, threshold = -1f)
                assertEquals(texts[1], hits[0].pattern.content)
            }
        }
    }
}
