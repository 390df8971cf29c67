package org.bizra

import org.junit.jupiter.api.Test
import java.io.File
import java.lang.reflect.Modifier
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The README's "One vocabulary across languages" table names, in its Kotlin column, what this
 * binding offers for each concept: every `Class`, `Class.member` and `Class.Nested.member` there
 * must exist, found by reflection (a member: a property, a method, a companion's function, or an
 * extension in one of the package's hand-written files), so the table cannot drift.
 */
class ReadmeNamesTest {
    private val readme = File("../../README.md")
    private val sources = File("src/main/kotlin/org/bizra")

    /** The backticked names of [column] in the table under [heading]. */
    private fun column(text: String, heading: String, column: String): List<String> {
        val section = text.substringAfter(heading, "")
        check(section.isNotEmpty()) { "README.md has no section $heading" }
        val rows = section.lines()
            .dropWhile { !it.trimStart().startsWith("|") }
            .takeWhile { it.trimStart().startsWith("|") }
            .map { row -> row.trim().removePrefix("|").removeSuffix("|").split("|").map { it.trim() } }
        val index = rows.first().indexOf(column)
        check(index >= 0) { "the table has no column $column: ${rows.first()}" }
        return rows.drop(2).flatMap { cells -> cells[index].split("`").filterIndexed { i, _ -> i % 2 == 1 } }
    }

    /** The package's file classes (`Errors.kt` → `ErrorsKt`), where extensions live. */
    private val fileClasses: List<Class<*>> by lazy {
        sources.listFiles { f -> f.name.endsWith(".kt") }.orEmpty().mapNotNull { f ->
            val name = f.name.removeSuffix(".kt").replaceFirstChar { it.uppercase() } + "Kt"
            runCatching { Class.forName("org.bizra.$name") }.getOrNull()
        }
    }

    /** A JVM name as Kotlin wrote it, without the suffix of inline-class mangling (`getCode-pVg5ArA`). */
    private fun plain(jvmName: String) = jvmName.substringBefore('-')

    private fun accessorNames(member: String): Set<String> {
        val cap = member.replaceFirstChar { it.uppercase() }
        return setOf(member, "get$cap", "is$cap")
    }

    private fun hasMember(cls: Class<*>, member: String): Boolean {
        val names = accessorNames(member)
        if (cls.methods.any { plain(it.name) in names } || cls.fields.any { it.name == member }) return true
        val companion = cls.declaredClasses.firstOrNull { it.simpleName == "Companion" }
        if (companion != null && companion.methods.any { plain(it.name) in names }) return true
        return fileClasses.any { file ->
            file.methods.any {
                Modifier.isStatic(it.modifiers) && plain(it.name) in names &&
                    it.parameterTypes.firstOrNull()?.isAssignableFrom(cls) == true
            }
        }
    }

    /** Null when [path] (`Class`, `Class.member`, `Class.Nested.member`) exists, else why not. */
    private fun missing(path: String): String? {
        val parts = path.split(".")
        var cls: Class<*> = runCatching { Class.forName("org.bizra.${parts[0]}") }.getOrNull()
            ?: return "no class org.bizra.${parts[0]}"
        for ((i, part) in parts.withIndex().drop(1)) {
            val nested = cls.declaredClasses.firstOrNull { it.simpleName == part }
            if (nested != null) {
                cls = nested
                continue
            }
            if (i != parts.lastIndex) return "${cls.name} has no nested class $part"
            if (!hasMember(cls, part)) return "${cls.name} has no member $part"
        }
        return null
    }

    @Test
    fun everyKotlinNameOfTheReadmeTableExists() {
        val names = column(readme.readText(), "## One vocabulary across languages", "Kotlin")
        assertTrue(names.size >= 15, "only ${names.size} Kotlin names found: $names")
        val problems = names.mapNotNull { name -> missing(name)?.let { "$name: $it" } }
        assertEquals(emptyList(), problems, "README.md names these in the Kotlin column")
    }

    /** The resolver refuses what does not exist (so that the test above can fail). */
    @Test
    fun theResolverRefusesNamesThatDoNotExist() {
        assertNull(missing("BizraException.Rejected.code"))
        assertNull(missing("BizraException.kind"))
        assertNull(missing("Envelope.create"))
        assertTrue(missing("Envelope.nonexistent") != null)
        assertTrue(missing("BizraException.Rejected.nonexistent") != null)
        assertTrue(missing("BizraException.Nope.code") != null)
        assertTrue(missing("NoSuchClass") != null)
        assertTrue(fileClasses.any { it.simpleName == "ErrorsKt" }, "$fileClasses")
    }
}
