// Hand-written beside the generated bizra.kt: the README's names for what every error says
// ("One vocabulary across languages"), read from libbizra, no table of their own.
package org.bizra

/**
 * The name of this error's kind (`"INVALID_INPUT"`, `"REJECTED"`, `"PROMPT_TOO_LONG"`, ...), the
 * same in every binding: the core's table of error kinds ([errorKinds]), asked through libbizra
 * ([BizraException.errorKind]), so no copy of the table lives here.
 */
val BizraException.kind: String
    get() = errorKind().name

/** What exactly failed, in words (every subclass's `detail`). */
val BizraException.detail: String
    get() = errorDetail()
