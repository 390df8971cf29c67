"""bizra — verifiable local AI.

Ed25519 node identities, signed PCI envelopes (spec PCI-v1), a fail-closed gate chain and a
hashed constitution, embedded inference, federation membership (``Node``: SWIM over signed UDP
datagrams), consensus on the node (``Node(document=...)``: ``propose``, ``decided``,
``consensus_events()`` yielding ``Decision`` and ``Evidence``), and commit certificates verified
offline against a ``FederationDocument`` (``Certificate.verify``, no node needed). A thin binding over the Rust core: every rule of the
protocol lives there.

    >>> import bizra
    >>> me = bizra.Identity.generate()
    >>> env = bizra.Envelope.create(me, {"answer": 4}, scores={"snr": 0.93, "ihsan": 0.97})
    >>> bizra.Envelope.open(env.to_json())  # parse + verify; raises bizra.RejectError

Errors: ``BizraError`` is the base of everything bizra raises; each kind of the core's error
table has its class (``ERROR_KINDS``: number → (name, class)), with ``.kind`` (``"KEY"``) and
``.detail``. ``RejectError`` carries ``.code`` (the spec's number), ``.name``
(``"HASH_MISMATCH"``) and ``.retryable``; ``CertificateError`` (a refused commit certificate)
carries ``.code`` (``CERTIFICATE_CODES``) and ``.name`` (``"BAD_SIGNATURE"``), and
``EvidenceError`` (refused equivocation evidence) ``.code``
(``EVIDENCE_CODES``) and ``.name`` (``"NOT_CONFLICTING"``);
``InvalidInputError`` is also a ``ValueError``; file errors are also ``OSError``s
(``NotFoundError`` a ``FileNotFoundError``, ...).

Times are timezone-aware ``datetime`` objects; a naive ``datetime`` is refused with ``ValueError``.
"""

from typing import Optional, TypedDict

from ._aio import (
    AsyncConsensusEventStream as AsyncConsensusEventStream,
    AsyncEventStream as AsyncEventStream,
    AsyncTokenStream as AsyncTokenStream,
)
from ._native import (
    CERTIFICATE_CODES as CERTIFICATE_CODES,
    DEFAULT_NODE_PORT as DEFAULT_NODE_PORT,
    DEFAULT_REPLAY_CAPACITY as DEFAULT_REPLAY_CAPACITY,
    DEFAULT_TTL_SECONDS as DEFAULT_TTL_SECONDS,
    ERROR_KINDS as ERROR_KINDS,
    EVIDENCE_CODES as EVIDENCE_CODES,
    MAX_CLOCK_SKEW_SECONDS as MAX_CLOCK_SKEW_SECONDS,
    MAX_DEPTH as MAX_DEPTH,
    MAX_PAYLOAD_BYTES as MAX_PAYLOAD_BYTES,
    MAX_PROVENANCE as MAX_PROVENANCE,
    MAX_TTL_SECONDS as MAX_TTL_SECONDS,
    REJECT_CODES as REJECT_CODES,
    AlreadyExistsError as AlreadyExistsError,
    BizraError as BizraError,
    BusyError as BusyError,
    CancelToken as CancelToken,
    Certificate as Certificate,
    CertificateError as CertificateError,
    ComplianceReport as ComplianceReport,
    ConsensusEngineStats as ConsensusEngineStats,
    ConsensusEventStream as ConsensusEventStream,
    ConsensusStatus as ConsensusStatus,
    Constitution as Constitution,
    ConstitutionError as ConstitutionError,
    Decision as Decision,
    Envelope as Envelope,
    Event as Event,
    EventStream as EventStream,
    Evidence as Evidence,
    EvidenceError as EvidenceError,
    FederationDocument as FederationDocument,
    FileSystemError as FileSystemError,
    GateChain as GateChain,
    GateReport as GateReport,
    GateResult as GateResult,
    GpuInfo as GpuInfo,
    HardwareProfile as HardwareProfile,
    Identity as Identity,
    ImportReport as ImportReport,
    InferenceError as InferenceError,
    InternalError as InternalError,
    InvalidInputError as InvalidInputError,
    InvalidKeyError as InvalidKeyError,
    Learned as Learned,
    Gateway as Gateway,
    Member as Member,
    Model as Model,
    ModelError as ModelError,
    ModelNotFoundError as ModelNotFoundError,
    ModelTier as ModelTier,
    NoRemotePoolError as NoRemotePoolError,
    Node as Node,
    NodeStats as NodeStats,
    NotFoundError as NotFoundError,
    PanicError as PanicError,
    Pattern as Pattern,
    PermissionDeniedError as PermissionDeniedError,
    Pool as Pool,
    Preference as Preference,
    PromptTooLongError as PromptTooLongError,
    Recalled as Recalled,
    RejectError as RejectError,
    RemoteRefusedError as RemoteRefusedError,
    RemoteUnavailableError as RemoteUnavailableError,
    ReplayCache as ReplayCache,
    Rule as Rule,
    RuleOutcome as RuleOutcome,
    Store as Store,
    TaskComplexity as TaskComplexity,
    TierDecision as TierDecision,
    TokenStream as TokenStream,
    Validator as Validator,
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
    "CERTIFICATE_CODES",
    "DEFAULT_NODE_PORT",
    "DEFAULT_REPLAY_CAPACITY",
    "DEFAULT_TTL_SECONDS",
    "ERROR_KINDS",
    "EVIDENCE_CODES",
    "MAX_CLOCK_SKEW_SECONDS",
    "MAX_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_PROVENANCE",
    "MAX_TTL_SECONDS",
    "REJECT_CODES",
    "AlreadyExistsError",
    "AsyncConsensusEventStream",
    "AsyncEventStream",
    "AsyncTokenStream",
    "BizraError",
    "BusyError",
    "CancelToken",
    "Certificate",
    "CertificateError",
    "ComplianceReport",
    "ConsensusEngineStats",
    "ConsensusEventStream",
    "ConsensusStatus",
    "Constitution",
    "ConstitutionError",
    "Decision",
    "Envelope",
    "Event",
    "EventStream",
    "Evidence",
    "EvidenceError",
    "FederationDocument",
    "FileSystemError",
    "GateChain",
    "GateReport",
    "GateResult",
    "GpuInfo",
    "HardwareProfile",
    "Identity",
    "IhsanInputs",
    "ImportReport",
    "InferenceError",
    "InternalError",
    "InvalidInputError",
    "InvalidKeyError",
    "Learned",
    "Member",
    "Gateway",
    "Model",
    "ModelError",
    "ModelNotFoundError",
    "ModelTier",
    "NoRemotePoolError",
    "Node",
    "NodeStats",
    "NotFoundError",
    "PanicError",
    "Pattern",
    "PermissionDeniedError",
    "Pool",
    "Preference",
    "PromptTooLongError",
    "Recalled",
    "RejectError",
    "RemoteRefusedError",
    "RemoteUnavailableError",
    "ReplayCache",
    "Rule",
    "RuleOutcome",
    "Store",
    "TaskComplexity",
    "TierDecision",
    "TokenStream",
    "Validator",
    "__version__",
    "canonicalize",
    "reject_name",
    "select_tier",
    "verify_batch",
    "verify_message",
]
