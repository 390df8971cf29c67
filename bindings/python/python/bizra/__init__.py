"""bizra — verifiable local AI.

Ed25519 node identities, signed PCI envelopes (spec PCI-v1), a fail-closed gate chain and a
hashed constitution. A thin binding over the Rust core: every rule of the protocol lives there.

    >>> import bizra
    >>> me = bizra.Identity.generate()
    >>> env = bizra.Envelope.create(me, {"answer": 4}, scores={"snr": 0.93, "ihsan": 0.97})
    >>> bizra.Envelope.parse(env.to_json()).verify()

Errors: ``BizraError`` is the base of everything bizra raises (a Rust panic included);
``RejectError`` carries ``.code`` (the spec's number) and ``.name`` (``"HASH_MISMATCH"``);
``InvalidInputError`` is also a ``ValueError``.

Times are timezone-aware ``datetime`` objects; a naive ``datetime`` is refused with ``ValueError``.
"""

from typing import Optional, TypedDict

from ._native import (
    MAX_CLOCK_SKEW_SECONDS as MAX_CLOCK_SKEW_SECONDS,
    MAX_DEPTH as MAX_DEPTH,
    MAX_PAYLOAD_BYTES as MAX_PAYLOAD_BYTES,
    MAX_PROVENANCE as MAX_PROVENANCE,
    MAX_TTL_SECONDS as MAX_TTL_SECONDS,
    REJECT_CODES as REJECT_CODES,
    BizraError as BizraError,
    ComplianceReport as ComplianceReport,
    Constitution as Constitution,
    Envelope as Envelope,
    GateChain as GateChain,
    GateReport as GateReport,
    GateResult as GateResult,
    GpuInfo as GpuInfo,
    HardwareProfile as HardwareProfile,
    Identity as Identity,
    InferenceError as InferenceError,
    InvalidInputError as InvalidInputError,
    Model as Model,
    ModelError as ModelError,
    ModelTier as ModelTier,
    PromptTooLongError as PromptTooLongError,
    RejectError as RejectError,
    ReplayCache as ReplayCache,
    Rule as Rule,
    RuleOutcome as RuleOutcome,
    TaskComplexity as TaskComplexity,
    TierDecision as TierDecision,
    TokenStream as TokenStream,
    __version__ as __version__,
    canonicalize as canonicalize,
    reject_name as reject_name,
    select_tier as select_tier,
    verify_batch as verify_batch,
    verify_message as verify_message,
)



class IhsanInputs(TypedDict, total=False):
    """The Ihsan dimensions a caller vouches for, each in [0, 1]: ``Model.generate(ihsan=...)``.

    The engine measures the other four dimensions itself (efficiency, auditability,
    anti_centralization, robustness), so they cannot be supplied; a dimension left out counts 0,
    so an answer nobody vouched for cannot reach the Ihsan threshold; a ``None`` value leaves its
    dimension out too. A plain ``dict`` with these keys is the same thing; this class names the
    keys for type checkers.

        >>> model.generate(me, "2+2?", ihsan=bizra.IhsanInputs(correctness=1.0, safety=1.0))
    """

    correctness: Optional[float]
    """Is the answer right? (a checker, a reference answer, a human)"""
    safety: Optional[float]
    """Is it free of harm?"""
    user_benefit: Optional[float]
    """Does it serve the user's request?"""
    adl_fairness: Optional[float]
    """Is it fair (adl)?"""


__all__ = [
    "MAX_CLOCK_SKEW_SECONDS",
    "MAX_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_PROVENANCE",
    "MAX_TTL_SECONDS",
    "REJECT_CODES",
    "BizraError",
    "ComplianceReport",
    "Constitution",
    "Envelope",
    "GateChain",
    "GateReport",
    "GateResult",
    "GpuInfo",
    "HardwareProfile",
    "Identity",
    "IhsanInputs",
    "InferenceError",
    "InvalidInputError",
    "Model",
    "ModelError",
    "ModelTier",
    "PromptTooLongError",
    "RejectError",
    "ReplayCache",
    "Rule",
    "RuleOutcome",
    "TaskComplexity",
    "TierDecision",
    "TokenStream",
    "__version__",
    "canonicalize",
    "reject_name",
    "select_tier",
    "verify_batch",
    "verify_message",
]
