package org.bizra

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path
import java.time.Duration
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Federation membership through UniFFI: real nodes on loopback UDP (port 0, fast timings). Two
 * nodes see each other join (through the blocking `poll` and through the `Flow`), list each other
 * alive, and a leave reaches the other; a node that left refuses calls and ends its streams; bad
 * options throw the right `BizraException`.
 */
class NodeTest {
    private val fast = Timings(
        probePeriod = Duration.ofMillis(100),
        probeRtt = Duration.ofMillis(40),
        suspectToDownAfter = Duration.ofMillis(2000),
        gossipInterval = Duration.ofMillis(30),
        rejoinInterval = Duration.ofMillis(500),
        announceInterval = Duration.ofSeconds(2),
    )

    private fun options(federation: String, seeds: List<String> = listOf(), allowlist: List<ByteArray>? = null) =
        NodeOptions(bind = "127.0.0.1:0", seeds = seeds, federation = federation, allowlist = allowlist, timings = fast)

    /** Polls [events] until an event of [kind] about [nodeId] comes; fails after 20 s. */
    private fun awaitEvent(events: NodeEvents, kind: NodeEventKind, nodeId: String): NodeEvent {
        val deadline = System.nanoTime() + 20_000_000_000L
        while (System.nanoTime() < deadline) {
            val e = events.poll(Duration.ofMillis(100)) ?: continue
            if (e.kind == kind && e.member.nodeId == nodeId) return e
        }
        throw AssertionError("no $kind event about $nodeId within 20 s")
    }

    /** Waits until [node] lists [nodeId] in [state]; fails after 20 s. */
    private fun awaitMember(node: Node, nodeId: String, state: MemberState): Member {
        val deadline = System.nanoTime() + 20_000_000_000L
        while (System.nanoTime() < deadline) {
            node.members().firstOrNull { it.nodeId == nodeId && it.state == state }?.let { return it }
            Thread.sleep(20)
        }
        throw AssertionError("$nodeId is not ${state.name.lowercase()} at ${node.nodeId()}: ${node.members()}")
    }

    @Test
    fun twoNodesJoinAndOneLeaves() {
        Identity.generate().use { idA ->
            Identity.generate().use { idB ->
                Node.start(idA, options("two")).use { a ->
                    val addrA = a.localAddr()
                    assertTrue(addrA.startsWith("127.0.0.1:") && addrA != "127.0.0.1:0", addrA)
                    assertEquals(addrA, a.advertisedAddr())
                    assertEquals(idA.nodeId(), a.nodeId())
                    assertTrue(a.isRunning())
                    a.events().use { eventsA ->
                        Node.start(idB, options("two", seeds = listOf(addrA))).use { b ->
                            val eventsB = b.events()
                            // Each sees the other's join: a through poll, b through the Flow.
                            val joined = awaitEvent(eventsA, NodeEventKind.JOINED, b.nodeId())
                            assertEquals(idB.publicKey().toList(), joined.member.publicKey.toList())
                            assertEquals(b.generation(), joined.member.generation)
                            assertEquals(b.localAddr(), joined.member.addr)
                            val seenByB = runBlocking {
                                withTimeout(20_000) {
                                    eventsB.asFlow().first { it.kind == NodeEventKind.JOINED && it.member.nodeId == a.nodeId() }
                                }
                            }
                            assertEquals(addrA, seenByB.member.addr)
                            // The Flow closed b's subscription when it stopped collecting.
                            assertThrows<IllegalStateException> { eventsB.isEnded() }

                            // Each lists the other alive (and not itself).
                            val m = awaitMember(a, b.nodeId(), MemberState.ALIVE)
                            assertNotNull(m.lastHeard)
                            awaitMember(b, a.nodeId(), MemberState.ALIVE)
                            assertTrue(a.members().none { it.nodeId == a.nodeId() })

                            val stats = a.stats()
                            assertTrue(stats.sent > 0u && stats.received > 0u, "$stats")
                            assertEquals(0uL, stats.dropped["bad_signature"])
                            assertTrue(stats.dropped.keys.containsAll(listOf("replay", "not_admitted", "stale", "queue_full")))

                            // b leaves: a sees it leave.
                            b.leave()
                            assertFalse(b.isRunning())
                            awaitEvent(eventsA, NodeEventKind.LEFT, idB.nodeId())
                            awaitMember(a, idB.nodeId(), MemberState.LEFT)

                            // Every call on b now throws InvalidInput; closing it is fine.
                            val e = assertThrows<BizraException.InvalidInput> { b.members() }
                            assertContains(e.detail, "left or was stopped")
                            assertEquals("INVALID_INPUT", e.kind)
                            assertThrows<BizraException.InvalidInput> { b.localAddr() }
                            assertThrows<BizraException.InvalidInput> { b.stats() }
                            assertThrows<BizraException.InvalidInput> { b.events() }
                            assertThrows<BizraException.InvalidInput> { b.leave() }
                            assertThrows<BizraException.InvalidInput> { b.stop() }
                        }
                    }
                }
            }
        }
    }

    @Test
    fun theFlowSeesTheJoinAndEndsWhenTheNodeStops() = runBlocking {
        Identity.generate().use { idA ->
            Identity.generate().use { idB ->
                val a = Node.start(idA, options("flow"))
                val events = a.events()
                // Collected on another thread meanwhile: everything a sees until it stops.
                val collected = async(Dispatchers.IO) { events.asFlow().toList() }
                Node.start(idB, options("flow", seeds = listOf(a.localAddr()))).use { b ->
                    awaitMember(a, b.nodeId(), MemberState.ALIVE)
                    b.leave()
                    awaitMember(a, idB.nodeId(), MemberState.LEFT)
                }
                a.stop()
                val seen = withTimeout(20_000) { collected.await() }
                val kinds = seen.filter { it.member.nodeId == idB.nodeId() }.map { it.kind }
                assertEquals(NodeEventKind.JOINED, kinds.first(), "$seen")
                assertEquals(NodeEventKind.LEFT, kinds.last(), "$seen")
                // A stream is read once.
                assertThrows<IllegalStateException> { runBlocking { events.asFlow().toList() } }
                a.close()
            }
        }
    }

    @Test
    fun aStreamEndsWhenItsNodeStops() {
        Identity.generate().use { id ->
            val node = Node.start(id, options("end"))
            val events = node.events()
            assertFalse(events.isEnded())
            assertNull(events.poll(Duration.ZERO))
            // A blocked reader wakes when the node stops.
            val reader = Thread { assertNull(events.poll(Duration.ofSeconds(60))) }
            reader.start()
            Thread.sleep(100)
            node.stop()
            reader.join(20_000)
            assertFalse(reader.isAlive)
            assertTrue(events.isEnded())
            assertNull(runBlocking { events.next() })
            events.close()
            node.close()
        }
    }

    @Test
    fun anAllowlistKeepsOutsidersOut() {
        Identity.generate().use { idA ->
            Identity.generate().use { idC ->
                Identity.generate().use { idX ->
                    val keys = listOf(idA.publicKey(), idC.publicKey())
                    Node.start(idA, options("closed", allowlist = keys)).use { a ->
                        val seeds = listOf(a.localAddr())
                        Node.start(idX, options("closed", seeds, keys)).use { x ->
                            Node.start(idC, options("closed", seeds, keys)).use { c ->
                                awaitMember(a, c.nodeId(), MemberState.ALIVE)
                                val deadline = System.nanoTime() + 20_000_000_000L
                                while (a.stats().dropped["not_admitted"] == 0uL && System.nanoTime() < deadline) Thread.sleep(20)
                                assertTrue(a.stats().dropped.getValue("not_admitted") > 0u)
                                assertTrue(a.members().none { it.nodeId == x.nodeId() })
                                assertTrue(c.members().none { it.nodeId == x.nodeId() })
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    fun theDataDirectoryRaisesTheGeneration(@TempDir dir: Path) {
        Identity.generate().use { id ->
            val opts = options("gen").copy(dataDir = dir.toString())
            val first = Node.start(id, opts).use { it.generation() }
            val second = Node.start(id, opts).use { it.generation() }
            assertTrue(second > first, "$first then $second")
        }
    }

    @Test
    fun badOptionsThrowTheRightException(@TempDir dir: Path) {
        Identity.generate().use { id ->
            fun invalid(opts: NodeOptions, needle: String) {
                val e = assertThrows<BizraException.InvalidInput> { Node.start(id, opts) }
                assertContains(e.detail, needle)
            }
            val ok = options("bad")
            // A seed without a port.
            invalid(ok.copy(seeds = listOf("127.0.0.1")), "seed \"127.0.0.1\"")
            invalid(ok.copy(bind = "localhost"), "bind \"localhost\" is not an ip:port address")
            invalid(ok.copy(advertise = "10.0.0.1"), "advertise")
            invalid(ok.copy(allowlist = listOf(ByteArray(31))), "allowlist[0] is 31 bytes")
            invalid(ok.copy(timings = fast.copy(probePeriod = Duration.ZERO)), "timings.probePeriod is zero")
            invalid(ok.copy(expectedMembers = 0u), "expectedMembers")
            // A data directory that is a file, and a port in use: Io.
            val file = File(dir.toFile(), "file").apply { writeText("x") }
            assertThrows<BizraException.Io> { Node.start(id, ok.copy(dataDir = file.path)) }
            Node.start(id, ok).use { a ->
                val e = assertThrows<BizraException.Io> { Node.start(id, ok.copy(bind = a.localAddr())) }
                assertContains(e.detail, a.localAddr())
                assertEquals("IO", e.kind)
            }
        }
    }
}
