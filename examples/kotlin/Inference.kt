// bizra from Kotlin: a local model answers, the answer streams as it is written, comes back as a
// signed envelope with measured scores, and the gate chain judges it by those scores.
//
// Run it: `make demo-kotlin` (with the test model from `make model`). In your own program, call
// `main(arrayOf("/path/to/model.gguf"))` or copy the body; the binding is the generated
// bindings/kotlin/src/main/kotlin/org/bizra/bizra.kt plus JNA and kotlinx-coroutines.
package org.bizra.examples.inference

import kotlinx.coroutines.runBlocking
import org.bizra.Envelope
import org.bizra.GateChain
import org.bizra.GenerateOptions
import org.bizra.Identity
import org.bizra.IhsanInputs
import org.bizra.Model
import org.bizra.ModelOptions
import org.bizra.StreamItem

fun main(args: Array<String>) {
    val path = args.firstOrNull() ?: System.getenv("BIZRA_TEST_MODEL")
        ?: error("usage: Inference <model.gguf> (or set BIZRA_TEST_MODEL)")
    val question = "What is the capital of France? Answer in one word."
    Identity.generate().use { me ->
        Model.load(path, ModelOptions(nCtx = 1024u)).use { model ->
            val info = model.info()
            println("model    ${info.name}: ${info.architecture}, ${info.parameters} weights, ${info.quantization}, context ${info.nCtx}")

            // Streaming: next() suspends until the engine has decoded the next piece, and the
            // stream ends with the signed envelope. (generateStreaming takes a TokenListener,
            // called on the engine's thread, instead.)
            print("answer   ")
            runBlocking {
                model.stream(me, question, GenerateOptions(temperature = 0f, maxTokens = 32u)).use { stream ->
                    while (true) {
                        when (val item = stream.next() ?: break) {
                            is StreamItem.Piece -> print(item.text)
                            is StreamItem.Signed -> item.envelope.use { println(); judge(it) }
                        }
                    }
                }
            }

            // Coroutines: generateAsync suspends instead of blocking a thread (cancelling the
            // coroutine stops the generation). The engine measures SNR and part of Ihsan; the
            // dimensions it cannot measure are the caller's to vouch for, here as this app's
            // policy for a closed question. The vouching is signed into the envelope.
            val vouched = IhsanInputs(correctness = 1.0, safety = 1.0, userBenefit = 1.0, adlFairness = 1.0)
            val options = GenerateOptions(temperature = 0f, maxTokens = 32u, ihsan = vouched)
            runBlocking { model.generateAsync(me, question, options) }.use { judge(it) }
        }
    }
}

private fun judge(env: Envelope) {
    env.verify()
    val scores = env.scores()
    println("verified ${env.id()} from ${env.sender()}: snr %.3f, ihsan %.3f".format(scores.snr, scores.ihsan))
    GateChain().use { chain ->
        val report = chain.check(env)
        val refusal = report.results.firstOrNull { !it.passed }
        println("gates    passed=${report.passed}" + (refusal?.let { " (${it.name}: PCI-${it.code} ${it.codeName}, ${it.detail})" } ?: ""))
    }
}
