package org.bizra

import org.junit.platform.engine.TestExecutionResult
import org.junit.platform.launcher.TestExecutionListener
import org.junit.platform.launcher.TestIdentifier
import org.junit.platform.launcher.TestPlan
import java.util.concurrent.atomic.AtomicInteger

/** Prints a plain `kotlin: N passed, N failed` line (Surefire's summary is hidden by `mvn -q`). */
class CountingListener : TestExecutionListener {
    private val passed = AtomicInteger()
    private val failed = AtomicInteger()
    private val skipped = AtomicInteger()

    override fun executionSkipped(testIdentifier: TestIdentifier, reason: String) {
        if (testIdentifier.isTest) skipped.incrementAndGet()
    }

    override fun executionFinished(testIdentifier: TestIdentifier, result: TestExecutionResult) {
        if (!testIdentifier.isTest) return
        when (result.status) {
            TestExecutionResult.Status.SUCCESSFUL -> passed.incrementAndGet()
            else -> {
                failed.incrementAndGet()
                System.out.println("FAILED: ${testIdentifier.displayName}: ${result.throwable.orElse(null)}")
            }
        }
    }

    override fun testPlanExecutionFinished(testPlan: TestPlan) {
        System.out.println("kotlin: ${passed.get()} passed, ${failed.get()} failed, ${skipped.get()} skipped")
    }
}
