package org.bizra

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.double
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.concurrent.thread
import kotlin.math.abs
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail

/**
 * The core's inference behaviour tests (tests/inference.rs) through `Model`, with the real model
 * (SmolLM2-135M-Instruct Q4_1 on the embedded llama.cpp). One model serves every test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class InferenceTest {
    private val model: Model by lazy { Model.load(testModelPath, ModelOptions(nCtx = 1024u, threads = 2u)) }
    private val me = Identity.generate()

    private val capital = "What is the capital of France? Answer in one word."
    /** Greedy, the model writes this story until the token limit: a cancellation, not the model, ends it. */
    private val story = "Write a long story about a dragon."
    private val greedy = GenerateOptions(temperature = 0f, maxTokens = 16u)
    private val vouched = IhsanInputs(correctness = 1.0, safety = 1.0, userBenefit = 1.0, adlFairness = 1.0)

    @AfterAll
    fun close() {
        model.close()
        me.close()
    }

    private fun payload(e: Envelope): JsonObject = Json.parseToJsonElement(e.payloadJson()).jsonObject

    private fun JsonObject.obj(key: String): JsonObject = getValue(key).jsonObject

    private fun output(e: Envelope): String = payload(e).str("output")

    /** Counts the pieces it receives and keeps them, in order. */
    private class Collector : TokenListener {
        val pieces: MutableList<String> = Collections.synchronizedList(mutableListOf())
        override fun onToken(piece: String) {
            pieces.add(piece)
        }
    }

    /** The model still answers normally (after an error, a cancellation, a failing listener). */
    private fun assertStillServing() {
        model.generate(me, capital, greedy).use { assertContains(output(it), "Paris") }
    }

    @Test
    fun metadataIsReadFromTheHeader() {
        val info = model.info()
        assertEquals("llama", info.architecture)
        assertEquals("Q4_1", info.quantization)
        assertTrue(info.parameters in 130_000_000uL until 140_000_000uL, "${info.parameters}")
        assertEquals(8192uL, info.contextLength)
        assertEquals(1024u, info.nCtx)
        assertEquals(ModelTier.EDGE, info.tier)
        assertContains(assertNotNull(info.chatTemplate), "<|im_start|>")
        assertEquals(File(testModelPath).length().toULong(), info.fileSize)
        assertEquals(64, info.fileBlake3.length)
        assertEquals(testModelPath, info.path)
        assertTrue(info.name.isNotEmpty())
    }

    @Test
    fun greedyTwiceGivesTheSameText() {
        val a = model.generate(me, capital, greedy).use { output(it) }
        val b = model.generate(me, capital, greedy).use { output(it) }
        assertEquals(a, b)
        assertContains(a, "Paris")
    }

    @Test
    fun seededSamplingIsReproducible() {
        val options = GenerateOptions(temperature = 0.9f, seed = 42u, maxTokens = 20u)
        val a = model.generate(me, "Tell me about the sea.", options).use { payload(it) }
        val b = model.generate(me, "Tell me about the sea.", options).use { payload(it) }
        assertEquals(a.str("output"), b.str("output"))
        assertEquals(42L, a.obj("params").getValue("seed").jsonPrimitive.long)
    }

    @Test
    fun streamedPiecesConcatenateToTheOutput() {
        val prompt = "Write one sentence about the sea."
        val options = GenerateOptions(temperature = 0f, maxTokens = 40u)
        val collector = Collector()
        val streamed = model.generateStreaming(me, prompt, collector, options).use { output(it) }
        assertTrue(collector.pieces.size > 3, "${collector.pieces}")
        assertEquals(streamed, collector.pieces.joinToString(""))
        assertEquals(model.generate(me, prompt, options).use { output(it) }, streamed)
    }

    @Test
    fun maxTokensIsHonoured() {
        val p = model.generate(me, "Write a long story about a dragon.", GenerateOptions(temperature = 0f, maxTokens = 5u))
            .use { payload(it) }
        assertEquals(5L, p.obj("tokens").getValue("completion").jsonPrimitive.long)
        assertEquals("length", p.str("finish_reason"))
        assertEquals(5L, p.obj("params").getValue("max_tokens").jsonPrimitive.long)
    }

    @Test
    fun stopStringsAreHonoured() {
        val prompt = "List the days of the week, separated by commas."
        val free = model.generate(me, prompt, GenerateOptions(temperature = 0f, maxTokens = 24u)).use { output(it) }
        // Stop at the second word the model writes: the output must be what came before it.
        val word = free.split(Regex("\\s+")).filter { it.isNotEmpty() }.getOrNull(1)
        assertNotNull(word, "too short: $free")
        val stopped = model.generate(me, prompt, GenerateOptions(temperature = 0f, maxTokens = 24u, stop = listOf(word)))
            .use { payload(it) }
        assertEquals("stop", stopped.str("finish_reason"), word)
        assertEquals(free.substring(0, free.indexOf(word)), stopped.str("output"))
        assertFalse(stopped.str("output").contains(word))
    }

    @Test
    fun cancellationFromAnotherThreadStopsPromptly() {
        val cancel = CancelToken()
        val pieces = AtomicInteger()
        val atCancel = AtomicInteger(-1)
        val tenth = CountDownLatch(1)
        val canceller = thread {
            // Wait for the tenth piece, then cancel from this thread.
            if (tenth.await(120, TimeUnit.SECONDS)) {
                atCancel.set(pieces.get())
                cancel.cancel()
            }
        }
        val listener = object : TokenListener {
            override fun onToken(piece: String) {
                if (pieces.incrementAndGet() == 10) tenth.countDown()
            }
        }
        val p = model.generateStreaming(me, story, listener, GenerateOptions(temperature = 0f, maxTokens = 900u), cancel)
            .use { payload(it) }
        canceller.join()
        assertTrue(cancel.isCancelled())
        assertEquals("cancelled", p.str("finish_reason"))
        val at = atCancel.get()
        assertTrue(at >= 10, "cancelled at $at")
        assertTrue(pieces.get() <= at + 2, "${pieces.get() - at} pieces after the cancel")
        assertTrue(p.obj("tokens").getValue("completion").jsonPrimitive.long < 100)
        assertStillServing()
    }

    @Test
    fun maxQueuedBoundsTheQueue() {
        val tooMany = assertThrows<BizraException.InvalidInput> {
            Model.load(testModelPath, ModelOptions(nCtx = 256u, threads = 2u, maxQueued = 65_537u))
        }
        assertContains(tooMany.detail, "max_queued")
        Model.load(testModelPath, ModelOptions(nCtx = 256u, threads = 2u, maxQueued = 0u)).use { solo ->
            // The listener holds the first piece until this thread's calls have returned, so the
            // model is busy for certain, whatever the timing.
            val first = CountDownLatch(1)
            val refused = CountDownLatch(1)
            val held = AtomicReference<Result<String>>()
            val holder = thread {
                // Taken at once, the model having just loaded.
                held.set(runCatching {
                    solo.generateStreaming(me, capital, object : TokenListener {
                        override fun onToken(piece: String) {
                            first.countDown()
                            refused.await(60, TimeUnit.SECONDS)
                        }
                    }, greedy).use { output(it) }
                })
            }
            assertTrue(first.await(60, TimeUnit.SECONDS), "no piece came")
            val busy = assertThrows<BizraException.Busy> { solo.generate(me, capital, greedy) }
            assertEquals("BUSY", busy.kind)
            assertContains(busy.detail, "(0 waiting)")
            assertThrows<BizraException.Busy> { solo.embed("cheese") }
            refused.countDown()
            holder.join()
            assertContains(held.get().getOrThrow(), "Paris")
            // The held generation has returned: the next request is taken at once.
            solo.generate(me, capital, greedy).use { assertContains(output(it), "Paris") }
        }
    }

    @Test
    fun aThrowingListenerStopsTheGenerationAndItsExceptionSurfaces() {
        val calls = AtomicInteger()
        val cancel = CancelToken()
        val e = assertThrows<BizraException.Internal> {
            model.generateStreaming(me, story, object : TokenListener {
                override fun onToken(piece: String) {
                    if (calls.incrementAndGet() == 3) throw IllegalStateException("listener gave up")
                }
            }, GenerateOptions(temperature = 0f, maxTokens = 200u), cancel)
        }
        assertContains(e.detail, "listener gave up")
        assertEquals(3, calls.get(), "the listener is not called after it threw")
        assertTrue(cancel.isCancelled(), "the generation was stopped through its token")

        // A BizraException crosses as itself.
        val mine = assertThrows<BizraException.InvalidInput> {
            model.generateStreaming(me, story, object : TokenListener {
                override fun onToken(piece: String) {
                    throw BizraException.InvalidInput("no thanks")
                }
            }, GenerateOptions(temperature = 0f, maxTokens = 200u))
        }
        assertEquals("no thanks", mine.detail)
        assertStillServing()
    }

    @Test
    fun generateAsyncSuspendsAndGivesTheSameAnswer() = runBlocking {
        val collector = Collector()
        val viaCoroutine = model.generateAsync(me, capital, greedy, collector).use { output(it) }
        assertEquals(model.generate(me, capital, greedy).use { output(it) }, viaCoroutine)
        assertEquals(viaCoroutine, collector.pieces.joinToString(""))
        // Many at once: the engine serves them in order, none blocks a dispatcher thread.
        val answers = (1..3).map { async(Dispatchers.Default) { model.generateAsync(me, capital, greedy).use { output(it) } } }
        answers.forEach { assertEquals(viaCoroutine, it.await()) }
    }

    /** Reads a stream to its end: the pieces, then the envelope (the last item), then null. */
    private suspend fun drain(stream: TokenStream): Pair<String, Envelope> {
        val text = StringBuilder()
        while (true) {
            when (val item = stream.next()) {
                is StreamItem.Piece -> text.append(item.text)
                is StreamItem.Signed -> {
                    assertNull(stream.next(), "the envelope is the last item")
                    return text.toString() to item.envelope
                }
                null -> fail("the stream ended without its envelope")
            }
        }
    }

    @Test
    fun aStreamYieldsThePiecesThenTheSignedEnvelope() = runBlocking {
        val (text, env) = model.stream(me, capital, greedy).use { drain(it) }
        env.use {
            it.verify()
            assertEquals(output(it), text)
            assertEquals(model.generate(me, capital, greedy).use { g -> output(g) }, text)
        }
        // Two streams read at once, each from its own coroutine, get their own pieces.
        val other = "Name a colour."
        val a = async(Dispatchers.Default) { model.stream(me, capital, greedy).use { drain(it) } }
        val b = async(Dispatchers.Default) { model.stream(me, other, greedy).use { drain(it) } }
        val (ta, ea) = a.await()
        val (tb, eb) = b.await()
        ea.use { assertEquals(output(it), ta) }
        eb.use { assertEquals(output(it), tb) }
        assertEquals(text, ta)
    }

    @Test
    fun aStreamCollectedAsAFlowEmitsThePiecesThenTheEnvelopeAndStopsWhenTheCollectorDoes() = runBlocking<Unit> {
        val items = model.stream(me, capital, greedy).asFlow().toList()
        val pieces = items.dropLast(1).map { (it as StreamItem.Piece).text }
        val signed = items.last() as StreamItem.Signed
        signed.envelope.use {
            it.verify()
            assertEquals(output(it), pieces.joinToString(""))
        }
        // `take` stops the collection after six pieces: the flow closes the stream, so the
        // generation stops (the next answer comes within a few token-times; had it run on, ~900
        // tokens would come first), and a second collection is refused.
        val long = GenerateOptions(temperature = 0f, maxTokens = 900u)
        val stream = model.stream(me, story, long)
        val flow = stream.asFlow()
        val times = flow.take(6).map { System.nanoTime() }.toList()
        assertFailsWith<IllegalStateException> { stream.next() }
        val perToken = (times[5] - times[1]) / 4
        val started = System.nanoTime()
        assertStillServing()
        val waited = System.nanoTime() - started
        assertTrue(waited < 100 * perToken, "waited ${waited / 1_000_000} ms, ${perToken / 1_000_000} ms a token")
        val again = assertFailsWith<IllegalStateException> { flow.toList() }
        assertContains(again.message ?: "", "already collected")
        // The generation's error is thrown in place of the envelope.
        assertFailsWith<BizraException.PromptTooLong> {
            model.stream(me, "word ".repeat(3000), greedy).asFlow().toList()
        }
    }

    @Test
    fun cancellingOrClosingAStreamStopsTheGeneration() = runBlocking {
        val long = GenerateOptions(temperature = 0f, maxTokens = 900u)
        model.stream(me, story, long).use { stream ->
            val pieces = StringBuilder()
            while (pieces.length < 20) {
                val item = stream.next()
                assertTrue(item is StreamItem.Piece, "$item")
                pieces.append((item as StreamItem.Piece).text)
            }
            stream.cancel()
            val (rest, env) = drain(stream)
            env.use {
                assertEquals("cancelled", payload(it).str("finish_reason"))
                assertEquals(output(it), pieces.toString() + rest)
                assertTrue(payload(it).obj("tokens").getValue("completion").jsonPrimitive.long < 100)
            }
        }
        // Closed after six pieces, nobody reads the rest: the generation stops at once, so the next
        // answer comes within a few token-times (had it run on, ~900 tokens would come first).
        val times = model.stream(me, story, long).use { stream ->
            List(6) {
                assertTrue(stream.next() is StreamItem.Piece)
                System.nanoTime()
            }
        }
        val perToken = (times[5] - times[1]) / 4
        val started = System.nanoTime()
        assertStillServing()
        val waited = System.nanoTime() - started
        assertTrue(waited < 100 * perToken, "waited ${waited / 1_000_000} ms, ${perToken / 1_000_000} ms a token")
    }

    @Test
    fun aStreamThrowsTheGenerationsErrorInPlaceOfTheEnvelope() = runBlocking {
        model.stream(me, "word ".repeat(3000), greedy).use { stream ->
            assertFailsWith<BizraException.PromptTooLong> { stream.next() }
            assertNull(stream.next(), "the error ends the stream")
        }
        model.stream(me, capital, GenerateOptions(topP = 2f)).use { stream ->
            assertFailsWith<BizraException.InvalidInput> { stream.next() }
        }
        assertStillServing()
    }

    @Test
    fun cancellingTheCoroutineCancelsTheGeneration() = runBlocking {
        val pieces = AtomicInteger()
        val tenth = CompletableDeferred<Unit>()
        val listener = object : TokenListener {
            override fun onToken(piece: String) {
                if (pieces.incrementAndGet() == 10) tenth.complete(Unit)
            }
        }
        val job = launch(Dispatchers.Default) {
            model.generateAsync(me, story, GenerateOptions(temperature = 0f, maxTokens = 900u), listener).close()
        }
        tenth.await()
        job.cancelAndJoin()
        val atCancel = pieces.get()
        // Requests are served in order: once the next one is answered, the cancelled one is over.
        assertStillServing()
        assertTrue(job.isCancelled)
        assertTrue(pieces.get() <= atCancel + 2, "${pieces.get() - atCancel} pieces after the cancel")
        assertTrue(pieces.get() < 100, "${pieces.get()} pieces")
    }

    @Test
    fun theOutputIsASignedEnvelopeThatTheGatesJudgeByItsMeasuredScores() {
        val parent = Envelope.create(me, """{"q":"capital"}""")
        val options = greedy.copy(ihsan = vouched, provenance = listOf(parent.id()), ttl = 600)
        val env = model.generate(me, capital, options)
        env.verify()
        Envelope.parse(env.toJson()).use { it.verify() }
        assertEquals(me.nodeId(), env.sender())
        assertEquals(listOf(parent.id()), env.provenance())
        assertEquals(600L, env.ttl())

        val p = payload(env)
        assertEquals("bizra.inference", p.str("type"))
        assertContains(p.str("output"), "Paris")
        assertEquals(model.info().fileBlake3, p.obj("model").str("file_blake3"))
        assertEquals("edge", p.str("tier"))
        assertEquals("eos", p.str("finish_reason"))
        assertEquals(0.0, p.obj("params").getValue("temperature").jsonPrimitive.double)
        val scores = env.scores()
        val snr = assertNotNull(scores.snr)
        val ihsan = assertNotNull(scores.ihsan)
        assertEquals(snr, p.obj("scores").obj("snr").getValue("value").jsonPrimitive.double)
        val dims = p.obj("scores").obj("ihsan").obj("dimensions")
        assertEquals("supplied", dims.obj("correctness").str("source"))
        assertEquals("measured", dims.obj("robustness").str("source"))

        // Admitted exactly when the measured scores clear the constitution's thresholds.
        val (snrMin, ihsanMin) = Constitution().use { it.snrThreshold() to it.ihsanMinimum() }
        GateChain().use { chain ->
            val report = chain.check(env)
            assertEquals(snr >= snrMin && ihsan >= ihsanMin, report.passed, "$report")
            assertTrue(report.passed, "a confident, fully vouched answer is admitted: snr $snr, ihsan $ihsan")
        }
        env.close()
        parent.close()
    }

    @Test
    fun anAnswerNobodyVouchedForFailsTheIhsanGate() {
        model.generate(me, capital, greedy).use { env ->
            val p = payload(env)
            val unmeasured = p.obj("scores").obj("ihsan").getValue("unmeasured").jsonArray.map { it.jsonPrimitive.content }
            assertEquals(listOf("correctness", "safety", "user_benefit", "adl_fairness"), unmeasured)
            assertEquals(null, p.obj("scores").obj("ihsan").obj("dimensions").obj("safety").getValue("value").jsonPrimitive.doubleOrNull)
            val ihsan = assertNotNull(env.scores().ihsan)
            assertTrue(ihsan < Constitution().use { it.ihsanMinimum() }, "$ihsan")
            GateChain().use { chain ->
                val report = chain.check(env)
                assertFalse(report.passed)
                assertTrue(report.code == 25u || report.code == 23u, "$report")
                val e = assertThrows<BizraException.Rejected> { chain.admit(env) }
                assertEquals(report.code, e.code)
            }
        }
    }

    @Test
    fun badOptionsAreInvalidInput() {
        assertThrows<BizraException.InvalidInput> { model.generate(me, capital, greedy.copy(topP = 0f)) }
        assertThrows<BizraException.InvalidInput> { model.generate(me, capital, greedy.copy(temperature = -1f)) }
        assertContains(
            assertThrows<BizraException.InvalidInput> { model.generate(me, capital, greedy.copy(maxTokens = 0u)) }.detail,
            "max_tokens",
        )
        assertContains(
            assertThrows<BizraException.InvalidInput> {
                model.generate(me, capital, greedy.copy(ihsan = IhsanInputs(correctness = 1.5)))
            }.detail,
            "correctness",
        )
        assertThrows<BizraException.InvalidInput> { model.generate(me, capital, greedy.copy(stop = listOf(""))) }
        assertThrows<BizraException.InvalidInput> { Model.load(testModelPath, ModelOptions(nCtx = 4u)) }
        assertStillServing()
    }

    @Test
    fun badFilesAndLongPromptsGiveClearErrorsAndTheModelSurvives(@TempDir dir: Path) {
        val missing = assertThrows<BizraException.Model> { Model.load(dir.resolve("nope.gguf").toString()) }
        assertContains(missing.detail, "no such file")

        val text = dir.resolve("notes.gguf").toFile().apply { writeText("these are not weights\n") }
        assertContains(assertThrows<BizraException.Model> { Model.load(text.path) }.detail, "not a GGUF file")

        val source = File(testModelPath)
        for (cut in listOf(12L, 4096L, source.length() / 2)) {
            val truncated = dir.resolve("cut$cut.gguf").toFile()
            source.inputStream().use { input ->
                truncated.outputStream().use { out ->
                    val buf = ByteArray(1 shl 16)
                    var left = cut
                    while (left > 0) {
                        val n = input.read(buf, 0, minOf(buf.size.toLong(), left).toInt())
                        out.write(buf, 0, n)
                        left -= n
                    }
                }
            }
            val e = assertThrows<BizraException.Model> { Model.load(truncated.path) }
            assertContains(e.detail, "truncated", message = "cut at $cut")
        }

        // A prompt longer than the context window, through each way of generating.
        val long = "word ".repeat(3000)
        val e = assertThrows<BizraException.PromptTooLong> { model.generate(me, long, greedy) }
        assertEquals(1024u, e.nCtx)
        assertTrue(e.promptTokens > 1024uL, "${e.promptTokens}")
        assertContains(e.detail, "prompt too long")
        val collector = Collector()
        assertThrows<BizraException.PromptTooLong> { model.generateStreaming(me, long, collector, greedy) }
        assertTrue(collector.pieces.isEmpty())
        assertThrows<BizraException.PromptTooLong> { runBlocking { model.generateAsync(me, long, greedy) } }
        assertThrows<BizraException.PromptTooLong> { model.embed("word ".repeat(2000)) }
        assertStillServing()
    }

    private fun cosine(a: List<Float>, b: List<Float>): Float = a.zip(b).map { (x, y) -> x * y }.sum()

    @Test
    fun embeddingsPutParaphrasesCloserThanUnrelatedSentences() {
        val a = model.embed("The cat sat on the mat.")
        val b = model.embed("A cat was sitting on the rug.")
        val c = model.embed("Quarterly revenue rose by twelve percent in Europe.")
        assertEquals(576, a.size)
        assertTrue(abs(a.map { it * it }.sum() - 1f) < 1e-3f, "L2-normalised")
        val near = cosine(a, b)
        val far = cosine(a, c)
        assertTrue(near > far, "paraphrase $near vs unrelated $far")
        assertEquals(a, model.embed("The cat sat on the mat."), "deterministic")
    }
}
