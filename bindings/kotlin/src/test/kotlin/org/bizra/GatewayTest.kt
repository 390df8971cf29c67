package org.bizra

import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.flow.toList
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.doubleOrNull
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows
import java.io.BufferedReader
import java.io.InputStreamReader
import java.net.ServerSocket
import java.time.Duration
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference
import kotlin.concurrent.thread
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

/**
 * The Pool tier and the gateway (`Pool`, `Gateway`) against the reference OpenAI-compatible
 * server (`scripts/pool_server.py`: llama-cpp-python's server serving the test model on a free
 * loopback port), started here with `$BIZRA_POOL_PYTHON $BIZRA_POOL_SERVER`, and the embedded
 * test model for the Edge tier.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GatewayTest {
    private val key = "sk-kotlin-gateway-test-0123456789"
    private val vocab = 49152u
    private val me = Identity.generate()
    private val edge: Model by lazy { Model.load(testModelPath, ModelOptions(nCtx = 512u, threads = 2u)) }
    private val server: Process by lazy { startServer() }

    /** The server's API root, read from its one stdout line. */
    private val baseUrl: String by lazy {
        val line = BufferedReader(InputStreamReader(server.inputStream)).readLine()
        checkNotNull(line) { "the pool server exited before printing its URL (exit ${server.waitFor()}; its reason is on stderr)" }
        line.trim()
    }

    private val greedy = GenerateOptions(temperature = 0f, maxTokens = 8u)
    private val poolGreedy = greedy.copy(tier = ModelTier.POOL)

    private fun startServer(): Process {
        val python = System.getenv("BIZRA_POOL_PYTHON")?.takeIf { it.isNotEmpty() }
        val script = System.getenv("BIZRA_POOL_SERVER")?.takeIf { it.isNotEmpty() }
        check(python != null && script != null) {
            "BIZRA_POOL_PYTHON and BIZRA_POOL_SERVER are not set: run `make pool-server` (make test-kotlin exports them)"
        }
        return ProcessBuilder(python, script, "--model", testModelPath, "--api-key", key)
            .redirectInput(ProcessBuilder.Redirect.PIPE)
            .redirectOutput(ProcessBuilder.Redirect.PIPE)
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
    }

    private fun pool(apiKey: String? = key): Pool =
        Pool.connect(PoolOptions(baseUrl = baseUrl, vocabSize = vocab, maxRetries = 0u), apiKey)

    /** A pool on a port nobody listens on, failing fast. */
    private fun deadPool(): Pool {
        val port = ServerSocket(0).use { it.localPort }
        return Pool.connect(
            PoolOptions(
                baseUrl = "http://127.0.0.1:$port/v1",
                model = "m",
                maxRetries = 0u,
                connectTimeout = Duration.ofSeconds(1),
                readTimeout = Duration.ofSeconds(2),
            ),
        )
    }

    @AfterAll
    fun close() {
        edge.close()
        me.close()
        // Closing its stdin stops the server.
        server.outputStream.close()
        if (!server.waitFor(15, TimeUnit.SECONDS)) server.destroyForcibly()
    }

    private fun payload(e: Envelope): JsonObject = Json.parseToJsonElement(e.payloadJson()).jsonObject

    private fun JsonObject.obj(key: String): JsonObject = getValue(key).jsonObject

    @Test
    fun aPoolRequestIsServedSignedAndRouted() {
        val pool = pool()
        assertEquals(baseUrl, pool.baseUrl())
        assertEquals(PoolHealth.Ready, pool.health())
        Gateway(edge = edge, pools = listOf(pool)).use { gateway ->
            assertEquals(listOf(baseUrl), gateway.pools().map { it.baseUrl() })
            gateway.generate(me, "What is the capital of France?", poolGreedy).use { env ->
                env.verify()
                val p = payload(env)
                assertEquals("pool", p.str("tier"))
                val route = p.obj("route")
                assertEquals("pool", route.str("served"))
                assertEquals("pool", route.str("tier"))
                assertEquals(JsonPrimitive(true), route["forced"])
                assertEquals(baseUrl, route.str("backend"))
                assertEquals(0, route.getValue("fallbacks").jsonArray.size)
                assertEquals(baseUrl, p.obj("backend").str("base_url"))
                assertNotNull(p.obj("scores").obj("snr")["value"]?.jsonPrimitive?.doubleOrNull, "$p")
                assertTrue(p.str("output").isNotEmpty())
                assertFalse(env.toJson().contains(key), "the key is never shown")
            }
            // The same through a stream and a suspending call.
            runBlocking {
                val items = gateway.stream(me, "Name a colour.", poolGreedy).use { it.asFlow().toList() }
                val pieces = items.dropLast(1).joinToString("") { (it as StreamItem.Piece).text }
                (items.last() as StreamItem.Signed).envelope.use { env ->
                    env.verify()
                    assertEquals(payload(env).str("output"), pieces)
                    assertEquals("pool", payload(env).obj("route").str("served"))
                }
                gateway.generateAsync(me, "Name a fruit.", poolGreedy).use { env ->
                    env.verify()
                    assertEquals("pool", payload(env).str("tier"))
                }
            }
        }
        pool.close()
    }

    @Test
    fun aWrongKeyIsRefusedWithItsStatusAndNeverFallsBack() {
        val wrong = "sk-wrong-kotlin-key-9876543210"
        Gateway(
            edge = edge,
            pools = listOf(pool(apiKey = wrong)),
            fallbacks = listOf(FallbackRule(ModelTier.POOL, ModelTier.EDGE)),
        ).use { gateway ->
            val e = assertThrows<BizraException.RemoteRefused> { gateway.generate(me, "Hi.", poolGreedy) }
            assertEquals("REMOTE_REFUSED", e.kind)
            assertEquals(401.toUShort(), e.status)
            assertEquals(baseUrl, e.endpoint)
            assertFalse(e.toString().contains(wrong) || e.detail.contains(wrong), "the key is never shown")
        }
    }

    @Test
    fun aPoolThatIsDownFallsBackToEdgeAndSaysSo() {
        Gateway(
            edge = edge,
            pools = listOf(deadPool()),
            fallbacks = listOf(FallbackRule(from = ModelTier.POOL, to = ModelTier.EDGE)),
        ).use { gateway ->
            gateway.generate(me, "What is 2 + 2?", poolGreedy).use { env ->
                env.verify()
                val p = payload(env)
                assertEquals("edge", p.str("tier"))
                val route = p.obj("route")
                assertEquals("pool", route.str("tier"))
                assertEquals("edge", route.str("served"))
                val f = route.getValue("fallbacks").jsonArray.single().jsonObject
                assertEquals("pool", f.str("from"))
                assertEquals("edge", f.str("to"))
                assertEquals("REMOTE_UNAVAILABLE", f.str("cause"))
            }
        }
    }

    @Test
    fun withoutTheFallbackADownPoolIsRemoteUnavailable() {
        val dead = deadPool()
        Gateway(edge = edge, pools = listOf(dead)).use { gateway ->
            val e = assertThrows<BizraException.RemoteUnavailable> { gateway.generate(me, "What is 2 + 2?", poolGreedy) }
            assertEquals("REMOTE_UNAVAILABLE", e.kind)
            assertEquals(dead.baseUrl(), e.endpoint)
            assertEquals(0.toUShort(), e.status, "it did not answer")
            // Cancellation and streaming take the same path.
            val collector = object : TokenListener {
                override fun onToken(piece: String) = Unit
            }
            assertThrows<BizraException.RemoteUnavailable> {
                gateway.generateStreaming(me, "Hi.", collector, poolGreedy, CancelToken())
            }
        }
        // No pool at all: the Pool tier has no backend.
        Gateway(edge = edge).use { gateway ->
            val e = assertThrows<BizraException.NoRemotePool> { gateway.generate(me, "Hi.", poolGreedy) }
            assertEquals("NO_REMOTE_POOL", e.kind)
        }
    }

    @Test
    fun maxInFlightBoundsAPool() {
        val none = assertThrows<BizraException.InvalidInput> {
            Pool.connect(PoolOptions(baseUrl = baseUrl, maxInFlight = 0u), key)
        }
        assertContains(none.detail, "max_in_flight")
        val one = Pool.connect(PoolOptions(baseUrl = baseUrl, vocabSize = vocab, maxInFlight = 1u), key)
        Gateway(pools = listOf(one)).use { gateway ->
            // The listener holds the first piece until this thread's calls have returned, so the
            // pool's one slot is taken for certain, whatever the timing.
            val first = CountDownLatch(1)
            val refused = CountDownLatch(1)
            val held = AtomicReference<Result<String>>()
            val holder = thread {
                held.set(runCatching {
                    gateway.generateStreaming(me, "What is the capital of France?", object : TokenListener {
                        override fun onToken(piece: String) {
                            first.countDown()
                            refused.await(60, TimeUnit.SECONDS)
                        }
                    }, poolGreedy).use { payload(it).str("tier") }
                })
            }
            assertTrue(first.await(60, TimeUnit.SECONDS), "no piece came")
            // The gateway's only pool is busy and nothing falls back; a health probe takes a slot too.
            val busy = assertThrows<BizraException.Busy> { gateway.generate(me, "Hi.", poolGreedy) }
            assertContains(busy.detail, "in flight")
            val health = one.health()
            assertTrue(health is PoolHealth.Unavailable && health.detail.contains("busy"), "$health")
            refused.countDown()
            holder.join()
            assertEquals("pool", held.get().getOrThrow())
            // The slot is given back just after the answer is handed over: probed again briefly.
            var ready = one.health()
            repeat(500) {
                if (ready != PoolHealth.Ready) {
                    Thread.sleep(10)
                    ready = one.health()
                }
            }
            assertEquals(PoolHealth.Ready, ready)
        }
        one.close()
    }

    @Test
    fun aForcedEdgeTierGoesToTheEngine() {
        Gateway(edge = edge, pools = listOf(deadPool())).use { gateway ->
            val forced = greedy.copy(tier = ModelTier.EDGE)
            val d = gateway.decide("Prove the Riemann hypothesis step by step.", forced)
            assertEquals(ModelTier.EDGE, d.tier)
            assertTrue(d.forced)
            assertFalse(gateway.decide("Hi.", greedy).forced)
            gateway.generate(me, "What is the capital of France?", forced).use { env ->
                env.verify()
                val p = payload(env)
                assertEquals("edge", p.str("tier"))
                val route = p.obj("route")
                assertEquals("edge", route.str("served"))
                assertEquals("embedded", route.str("backend"))
                assertEquals(JsonPrimitive(true), route["forced"])
                // The same request served by the model directly: the same output.
                edge.generate(me, "What is the capital of France?", forced).use { direct ->
                    assertEquals(payload(direct).str("output"), p.str("output"))
                    assertEquals(8L, payload(direct).obj("params").getValue("max_tokens").jsonPrimitive.long)
                }
            }
        }
    }

    @Test
    fun badConfigurationsAreRefused() {
        val self = assertThrows<BizraException.InvalidInput> {
            Gateway(edge = edge, fallbacks = listOf(FallbackRule(ModelTier.EDGE, ModelTier.EDGE)))
        }
        assertEquals("INVALID_INPUT", self.kind)
        assertContains(self.detail.lowercase(), "edge")
        assertThrows<BizraException.InvalidInput> {
            Gateway(
                fallbacks = listOf(
                    FallbackRule(ModelTier.POOL, ModelTier.EDGE),
                    FallbackRule(ModelTier.POOL, ModelTier.LOCAL),
                ),
            )
        }
        assertThrows<BizraException.InvalidInput> { Pool.connect(PoolOptions(baseUrl = "not a url")) }
        assertThrows<BizraException.InvalidInput> {
            Pool.connect(PoolOptions(baseUrl = "http://127.0.0.1:1/v1", topLogprobs = 21u))
        }
    }
}
