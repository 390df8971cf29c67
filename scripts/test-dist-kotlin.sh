#!/usr/bin/env bash
# Usage: test-dist-kotlin.sh VERSION REPOSITORY M2 MODEL WORK
#
# What a JVM user without Rust does with the Maven artifact: a fresh Maven project in WORK that
# declares org.bizra:bizra:VERSION from REPOSITORY (dist/maven, a file:// repository) and nothing
# of bizra besides, compiles a Kotlin main and runs it in a JVM of its own: the quickstart (an
# identity, an envelope created, opened and verified, a tampered copy rejected) and one greedy
# generation on MODEL whose envelope verifies. Neither jna.library.path nor LD_LIBRARY_PATH is
# set: libbizra.so comes out of the jar. PATH has no cargo, rustc, cmake or C compiler.
#
# M2 is Maven's cache (kotlin-maven-plugin, exec-maven-plugin, JNA ...): fetched on the first run,
# offline afterwards (the file:// repository stays readable offline). bizra's own artifact is
# removed from it first, so that the jar under test is the one resolved from REPOSITORY.
set -euo pipefail

version=${1:?usage: test-dist-kotlin.sh VERSION REPOSITORY M2 MODEL WORK}
repository=${2:?} m2=${3:?} model=${4:?} work=${5:?}
kotlin_version=$(sed -n 's|.*<kotlin.version>\(.*\)</kotlin.version>.*|\1|p' bindings/kotlin/pom.xml)

rm -rf "$work" "$m2/org/bizra/bizra"
mkdir -p "$work/src/main/kotlin"
cat > "$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example</groupId>
  <artifactId>bizra-consumer</artifactId>
  <version>1</version>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <kotlin.compiler.jvmTarget>17</kotlin.compiler.jvmTarget>
  </properties>
  <repositories>
    <repository>
      <id>bizra-dist</id>
      <url>file://$repository</url>
    </repository>
  </repositories>
  <dependencies>
    <dependency>
      <groupId>org.bizra</groupId>
      <artifactId>bizra</artifactId>
      <version>$version</version>
    </dependency>
  </dependencies>
  <build>
    <sourceDirectory>src/main/kotlin</sourceDirectory>
    <plugins>
      <plugin>
        <groupId>org.jetbrains.kotlin</groupId>
        <artifactId>kotlin-maven-plugin</artifactId>
        <version>$kotlin_version</version>
        <executions>
          <execution><id>compile</id><goals><goal>compile</goal></goals></execution>
        </executions>
      </plugin>
      <plugin>
        <groupId>org.codehaus.mojo</groupId>
        <artifactId>exec-maven-plugin</artifactId>
        <version>3.6.3</version>
        <configuration>
          <executable>java</executable>
          <arguments>
            <argument>-classpath</argument>
            <classpath/>
            <argument>org.example.MainKt</argument>
            <argument>$model</argument>
          </arguments>
        </configuration>
      </plugin>
    </plugins>
  </build>
</project>
EOF
cat > "$work/src/main/kotlin/Main.kt" <<'EOF'
package org.example

import org.bizra.BizraException
import org.bizra.Envelope
import org.bizra.EnvelopeOptions
import org.bizra.GenerateOptions
import org.bizra.Identity
import org.bizra.Model
import org.bizra.ModelOptions

fun main(args: Array<String>) {
    check(System.getProperty("jna.library.path") == null) { "jna.library.path is set" }
    Identity.generate().use { me ->
        val wire = Envelope.create(me, """{"answer": "4"}""", EnvelopeOptions(snr = 0.93, ihsan = 0.97))
            .use { it.toJson() }
        Envelope.open(wire).use { println("quickstart: verified ${it.id()} from ${it.sender()}") }
        try {
            Envelope.open(wire.replace(""""answer":"4"""", """"answer":"5"""")).close()
            error("a tampered envelope was accepted")
        } catch (e: BizraException.Rejected) {
            println("quickstart: tampered copy rejected, PCI-${e.code} ${e.name}")
        }
        Model.load(args[0], ModelOptions(nCtx = 512u)).use { model ->
            val options = GenerateOptions(temperature = 0f, maxTokens = 16u)
            val signed = model.generate(me, "What is the capital of France?", options).use { it.toJson() }
            Envelope.open(signed).use { println("generation: verified ${it.id()} from ${it.sender()}") }
        }
    }
}
EOF

PATH=$(scripts/dist-path.sh "$work/bin")
export PATH
unset LD_LIBRARY_PATH
# Maven still writes colour resets around the program's output: the checks below are unanchored.
mvn=(mvn -B -ntp -q -Dstyle.color=never -Dmaven.repo.local="$m2")
# Offline once the plugins are cached; the file:// repository is readable offline.
if [ -d "$m2/org/codehaus/mojo/exec-maven-plugin/3.6.3" ]; then
  mvn+=(-o -Daether.offline.protocols=file)
fi
(cd "$work" && "${mvn[@]}" compile exec:exec) | tee "$work/run.out"
grep -q 'quickstart: verified ' "$work/run.out"
grep -q 'quickstart: tampered copy rejected, PCI-15 ' "$work/run.out"
grep -q 'generation: verified ' "$work/run.out"
[ -f "$m2/org/bizra/bizra/$version/bizra-$version.jar" ] ||
  { echo "test-dist-kotlin: org.bizra:bizra:$version was not resolved from $repository" >&2; exit 1; }
echo "test-dist-kotlin: org.bizra:bizra:$version from $repository ran the quickstart and a generation" \
  "with no jna.library.path, LD_LIBRARY_PATH, cargo, rustc or cmake"
