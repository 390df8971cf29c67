"""Type stubs of the native module bizra._native (re-exported by the package ``bizra``)."""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from os import PathLike
from typing import Any, ClassVar, Final, Literal, Optional, Union, final

from typing_extensions import Buffer, Self, TypeAlias

from . import IhsanInputs
from ._aio import AsyncConsensusEventStream, AsyncEventStream, AsyncTokenStream

__version__: Final[str]
REJECT_CODES: Final[dict[int, str]]
CERTIFICATE_CODES: Final[dict[int, str]]
"""The refusal codes of commit certificates (CONSENSUS-v1): number → name, 1 MALFORMED ... 8
VALUE_MISMATCH."""
EVIDENCE_CODES: Final[dict[int, str]]
"""The refusal codes of equivocation evidence (CONSENSUS-v1): number → name, 1 MALFORMED ... 8
BAD_SIGNATURE."""
ERROR_KINDS: Final[dict[int, tuple[str, type[BizraError]]]]
"""Every kind of the core's error table, by number: (name, class)."""
MAX_DEPTH: Final[int]
DEFAULT_TTL_SECONDS: Final[int]
DEFAULT_REPLAY_CAPACITY: Final[int]
MAX_TTL_SECONDS: Final[int]
MAX_CLOCK_SKEW_SECONDS: Final[int]
MAX_PROVENANCE: Final[int]
MAX_PAYLOAD_BYTES: Final[int]
DEFAULT_NODE_PORT: Final[int]
"""The UDP port a Node listens on unless told otherwise (7946)."""

_JSONValue: TypeAlias = Union[
    None, bool, int, float, str, list["_JSONValue"], tuple["_JSONValue", ...], dict[str, "_JSONValue"]
]
"""A JSON-able Python value (ints within ±(2^53−1), finite floats, str keys)."""

_StrPath: TypeAlias = Union[str, "PathLike[str]"]
_Policy: TypeAlias = Union["Constitution", str, bytes]
"""A Constitution, its hash as 64 hex characters, or the hash as 32 bytes."""
_TierName: TypeAlias = Literal["cheap", "medium", "expensive"]
_BuiltinGate: TypeAlias = Literal["schema", "signature", "freshness", "replay", "policy", "snr", "ihsan"]
_Seconds: TypeAlias = Union[float, timedelta]
"""A duration: seconds as a number, or a timedelta."""
_NodeKey: TypeAlias = Union["Identity", Buffer, str]
"""A node key: an Identity, 32 bytes, or 64 hex characters."""
_MemberState: TypeAlias = Literal["alive", "suspect", "down", "left"]
_EventKind: TypeAlias = Literal["joined", "suspect", "alive_again", "down", "left"]
_EvidenceStep: TypeAlias = Literal["proposal", "prevote", "precommit"]

class BizraError(Exception):
    """Base class of every error bizra raises; each kind of error has its subclass."""

    kind: ClassVar[str]
    """The kind's name ("INVALID_INPUT", "REJECTED", "KEY", ...; see ERROR_KINDS)."""
    detail: str
    """What exactly failed."""

class InvalidInputError(BizraError, ValueError):
    """An argument was out of range or of the wrong form (kind INVALID_INPUT)."""

class RejectError(BizraError):
    """An envelope or a gate refused admission (kind REJECTED)."""

    code: int
    """The spec's reject code (15)."""
    name: str
    """The code's name ("HASH_MISMATCH")."""
    retryable: bool
    """Whether the same request may succeed later (rate, quota, timeout)."""

class CertificateError(BizraError):
    """A commit certificate was refused (kind CERTIFICATE_REFUSED)."""

    code: int
    """The refusal code of CONSENSUS-v1 (6)."""
    name: str
    """The code's name ("BAD_SIGNATURE")."""

class EvidenceError(BizraError):
    """Equivocation evidence was refused by Evidence.verify (kind EVIDENCE_REFUSED)."""

    code: int
    """The refusal code of CONSENSUS-v1 (5; see EVIDENCE_CODES)."""
    name: str
    """The code's name ("NOT_CONFLICTING")."""

class InvalidKeyError(BizraError):
    """A key could not be imported or exported: wrong passphrase, corrupt file (kind KEY)."""

class ConstitutionError(BizraError):
    """A constitution document is invalid (kind CONSTITUTION)."""

class FileSystemError(BizraError, OSError):
    """An operating system call failed: a file, a socket (kind IO); .errno, .strerror, .filename
    as OSError's."""

class NotFoundError(FileSystemError, FileNotFoundError):
    """A file or directory does not exist (kind IO)."""

class PermissionDeniedError(FileSystemError, PermissionError):
    """The operating system refused access to a file (kind IO)."""

class AlreadyExistsError(FileSystemError, FileExistsError):
    """A file exists where a new one was to be written (kind IO)."""

class ModelError(BizraError):
    """A model file is missing, is not a GGUF file, or is damaged (kind MODEL)."""

class ModelNotFoundError(ModelError):
    """No registered model serves the tier or has the name (kind MODEL_NOT_FOUND)."""

class PromptTooLongError(BizraError):
    """The prompt does not fit the model's context window (kind PROMPT_TOO_LONG)."""

    prompt_tokens: int
    """The prompt's length in tokens (after the chat template)."""
    n_ctx: int
    """The context window it had to fit."""

class NoRemotePoolError(BizraError):
    """The pool tier was requested but no remote pool is configured (kind NO_REMOTE_POOL)."""

class RemoteUnavailableError(BizraError):
    """A remote pool could not serve the request: unreachable, timed out, 429, 5xx or a
    malformed stream; it may succeed later (kind REMOTE_UNAVAILABLE)."""

    endpoint: str
    """The URL tried."""
    status: int | None
    """The HTTP status, None when no response came."""

class BusyError(BizraError):
    """A bounded queue was full, so the call was not taken: a model's request queue, a
    consensus node's proposal pool (kind BUSY). Nothing was done; the same call may succeed once
    the load passes."""

class RemoteRefusedError(BizraError):
    """A remote pool refused the request: an HTTP 4xx other than 429, e.g. a wrong API key
    (kind REMOTE_REFUSED)."""

    endpoint: str
    """The URL tried."""
    status: int | None
    """The HTTP status."""

class InferenceError(BizraError):
    """The inference engine failed (kind INFERENCE)."""

class InternalError(BizraError):
    """A bug in bizra: an invariant did not hold (kind INTERNAL)."""

class PanicError(BizraError):
    """A bug in bizra: a Rust panic stopped at the boundary (kind PANIC)."""

def reject_name(code: int) -> str:
    """Name of a reject code (15 → "HASH_MISMATCH", 0 → "SUCCESS")."""

def canonicalize(value: _JSONValue) -> str:
    """RFC 8785 (JCS) text of a JSON-able value."""

def verify_message(public_key: Buffer, message: Buffer, signature: Buffer) -> bool:
    """Strict verification of a signature made by Identity.sign; False for anything invalid."""

@final
class Identity:
    """An Ed25519 node identity; repr() shows the node id only."""

    @staticmethod
    def generate() -> Identity: ...
    @staticmethod
    def from_seed(seed: Buffer) -> Identity: ...
    @staticmethod
    def from_pem(pem: str, passphrase: Optional[str] = None) -> Identity: ...
    @staticmethod
    def load(path: _StrPath, passphrase: Optional[str] = None) -> Identity: ...
    @property
    def node_id(self) -> str: ...
    @property
    def display_id(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def public_key_hex(self) -> str: ...
    def sign(self, message: Buffer) -> bytes: ...
    def to_pem(self, passphrase: Optional[str] = None) -> str: ...
    def save(
        self, path: _StrPath, passphrase: Optional[str] = None, *, overwrite: bool = False
    ) -> None:
        """Writes the key file (mode 0600); AlreadyExistsError unless overwrite=True."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Envelope:
    """A signed PCI envelope (spec PCI-v1). Immutable."""

    @staticmethod
    def create(
        identity: Identity,
        payload: _JSONValue,
        *,
        ttl: Optional[int] = None,
        provenance: Optional[Iterable[Union[str, Envelope]]] = None,
        scores: Optional[dict[str, float]] = None,
        policy: Optional[_Policy] = None,
        id: Optional[str] = None,
        timestamp: Optional[datetime] = None,
    ) -> Envelope: ...
    @staticmethod
    def parse(text: Union[str, Buffer]) -> Envelope: ...
    @staticmethod
    def open(
        text: Union[str, Buffer],
        *,
        now: Optional[datetime] = None,
        policy: Optional[_Policy] = None,
        replay: Optional[ReplayCache] = None,
    ) -> Envelope:
        """Parses and verifies in one call; the verified envelope, or RejectError."""
    def verify(
        self,
        *,
        now: Optional[datetime] = None,
        policy: Optional[_Policy] = None,
        replay: Optional[ReplayCache] = None,
    ) -> None: ...
    def to_json(self) -> str: ...
    def header_json(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
    @property
    def version(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def public_key(self) -> str: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def ttl(self) -> int: ...
    @property
    def content_hash(self) -> str: ...
    @property
    def provenance(self) -> list[str]: ...
    @property
    def scores(self) -> dict[str, float]: ...
    @property
    def policy(self) -> str: ...
    @property
    def payload(self) -> Any: ...
    @property
    def signature(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class ReplayCache:
    """Remembers admitted envelope ids until they expire; thread-safe; refuses (QUOTA) when full."""

    def __new__(cls, capacity: Optional[int] = None) -> ReplayCache:
        """At most `capacity` live ids (default DEFAULT_REPLAY_CAPACITY; 0 is refused)."""
    @property
    def capacity(self) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object, /) -> bool: ...
    def contains(self, id: str, now: Optional[datetime] = None) -> bool: ...
    def purge_expired(self, now: Optional[datetime] = None) -> None: ...

def verify_batch(
    envelopes: Iterable[Envelope],
    now: Optional[datetime] = None,
    *,
    policy: Optional[_Policy] = None,
    replay: Optional[ReplayCache] = None,
) -> list[int]:
    """One reject code per envelope (0 = valid), each what Envelope.verify gives."""

@final
class GateResult:
    @property
    def name(self) -> str: ...
    @property
    def tier(self) -> _TierName: ...
    @property
    def passed(self) -> bool: ...
    @property
    def code(self) -> Optional[int]: ...
    @property
    def code_name(self) -> Optional[str]: ...
    @property
    def detail(self) -> Optional[str]: ...
    @property
    def duration(self) -> float: ...
    @property
    def over_budget(self) -> bool: ...

@final
class GateReport:
    @property
    def passed(self) -> bool: ...
    @property
    def results(self) -> list[GateResult]: ...
    @property
    def first_failure(self) -> Optional[GateResult]: ...
    @property
    def code(self) -> Optional[int]: ...
    def raise_for_status(self) -> None: ...
    def __bool__(self) -> bool: ...

@final
class GateChain:
    """An ordered, tiered, fail-closed set of gates over one constitution."""

    def __new__(cls, constitution: Optional[Constitution] = None) -> GateChain: ...
    @staticmethod
    def empty(constitution: Optional[Constitution] = None) -> GateChain: ...
    def add_builtin(self, name: _BuiltinGate) -> None: ...
    def add_gate(
        self, name: str, tier: _TierName, gate: Callable[[Envelope], Union[None, bool, str]]
    ) -> None:
        """A Python gate: None/True admits; False, a reason str or an exception refuses (24)."""
    def set_payload_schema(self, schema: _JSONValue) -> None: ...
    @property
    def replay_cache(self) -> ReplayCache: ...
    def set_replay_cache(self, cache: ReplayCache) -> None: ...
    @property
    def report_all(self) -> bool: ...
    @report_all.setter
    def report_all(self, on: bool) -> None: ...
    @property
    def constitution(self) -> Constitution: ...
    @property
    def gate_names(self) -> list[str]: ...
    def check(self, envelope: Envelope, *, now: Optional[datetime] = None) -> GateReport:
        """Judges without admitting (records nothing)."""
    def admit(self, envelope: Envelope, *, now: Optional[datetime] = None) -> GateReport:
        """Judges and admits (records the id); RejectError for the first refusal."""

@final
class Rule:
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def enforcement(self) -> Literal["strict", "advisory"]: ...
    @property
    def penalty(self) -> str: ...

@final
class RuleOutcome:
    @property
    def id(self) -> str: ...
    @property
    def enforcement(self) -> Literal["strict", "advisory"]: ...
    @property
    def passed(self) -> bool: ...
    @property
    def value(self) -> Optional[float]: ...
    @property
    def threshold(self) -> Optional[float]: ...
    @property
    def detail(self) -> str: ...

@final
class ComplianceReport:
    @property
    def compliant(self) -> bool: ...
    @property
    def rules(self) -> list[RuleOutcome]: ...
    @property
    def failures(self) -> list[RuleOutcome]: ...
    def __bool__(self) -> bool: ...

@final
class Constitution:
    """Thresholds and rules a node applies, identified by its hash."""

    def __new__(cls) -> Constitution: ...
    @staticmethod
    def default() -> Constitution: ...
    @staticmethod
    def load(path: _StrPath) -> Constitution: ...
    @staticmethod
    def from_json(text: str) -> Constitution: ...
    @property
    def hash(self) -> str: ...
    @property
    def hash_bytes(self) -> bytes: ...
    @property
    def version(self) -> str: ...
    @property
    def ihsan_minimum(self) -> float: ...
    @property
    def ihsan_target(self) -> float: ...
    @property
    def snr_threshold(self) -> float: ...
    @property
    def max_ttl_seconds(self) -> int: ...
    @property
    def max_clock_skew_seconds(self) -> int: ...
    @property
    def rules(self) -> list[Rule]: ...
    @staticmethod
    def quorum(n: int) -> int: ...
    def check(
        self,
        *,
        snr: Optional[float] = None,
        ihsan: Optional[float] = None,
        has_signature: bool = False,
        has_provenance: bool = False,
    ) -> ComplianceReport: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class TaskComplexity:
    SIMPLE: TaskComplexity
    MEDIUM: TaskComplexity
    COMPLEX: TaskComplexity
    EXPERT: TaskComplexity
    @staticmethod
    def estimate(prompt: str, max_tokens: int = 256) -> TaskComplexity: ...
    @staticmethod
    def explain(prompt: str, max_tokens: int = 256) -> tuple[TaskComplexity, str]: ...
    @property
    def label(self) -> str: ...
    def __int__(self) -> int: ...
    def __lt__(self, other: TaskComplexity, /) -> bool: ...
    def __le__(self, other: TaskComplexity, /) -> bool: ...
    def __gt__(self, other: TaskComplexity, /) -> bool: ...
    def __ge__(self, other: TaskComplexity, /) -> bool: ...

@final
class ModelTier:
    EDGE: ModelTier
    LOCAL: ModelTier
    POOL: ModelTier
    @staticmethod
    def from_name(name: str) -> ModelTier: ...
    @staticmethod
    def for_complexity(c: TaskComplexity) -> ModelTier: ...
    @property
    def parameter_range_billions(self) -> tuple[float, float]: ...
    @property
    def label(self) -> str: ...
    def __int__(self) -> int: ...
    def __lt__(self, other: ModelTier, /) -> bool: ...
    def __le__(self, other: ModelTier, /) -> bool: ...
    def __gt__(self, other: ModelTier, /) -> bool: ...
    def __ge__(self, other: ModelTier, /) -> bool: ...

@final
class TierDecision:
    @property
    def complexity(self) -> TaskComplexity: ...
    @property
    def tier(self) -> ModelTier: ...
    @property
    def forced(self) -> bool: ...
    @property
    def reason(self) -> str: ...

def select_tier(
    prompt: str, max_tokens: int = 256, forced: Union[ModelTier, str, None] = None
) -> TierDecision:
    """Chooses the tier for a task; a forced tier overrides the estimate."""

@final
class GpuInfo:
    @property
    def name(self) -> str: ...
    @property
    def memory_total_bytes(self) -> int: ...
    @property
    def memory_free_bytes(self) -> int: ...

@final
class HardwareProfile:
    @staticmethod
    def detect(path: Optional[_StrPath] = None) -> HardwareProfile: ...
    @property
    def cpu_cores(self) -> int: ...
    @property
    def logical_cpus(self) -> int: ...
    @property
    def ram_total_bytes(self) -> int: ...
    @property
    def ram_available_bytes(self) -> int: ...
    @property
    def disk_free_bytes(self) -> int: ...
    @property
    def gpus(self) -> list[GpuInfo]: ...
    def max_local_tier(self) -> Optional[ModelTier]: ...
    def can_serve(self, tier: Union[ModelTier, str]) -> bool: ...

@final
class CancelToken:
    """Stops a generation from any thread (Model.generate(cancel=...)); stays cancelled."""

    def __new__(cls) -> CancelToken: ...
    def cancel(self) -> None: ...
    def is_cancelled(self) -> bool: ...

@final
class Model:
    """A loaded GGUF model, served by llama.cpp on its own worker thread; thread-safe."""

    def __new__(
        cls,
        path: _StrPath,
        *,
        n_ctx: Optional[int] = None,
        threads: Optional[int] = None,
        n_batch: Optional[int] = None,
        embedding_n_ctx: Optional[int] = None,
        n_gpu_layers: Optional[int] = None,
        max_queued: Optional[int] = None,
    ) -> Model:
        """Loads a GGUF file (as Model.load), for `with bizra.Model(path) as model:`."""
    @staticmethod
    def load(
        path: _StrPath,
        *,
        n_ctx: Optional[int] = None,
        threads: Optional[int] = None,
        n_batch: Optional[int] = None,
        embedding_n_ctx: Optional[int] = None,
        n_gpu_layers: Optional[int] = None,
        max_queued: Optional[int] = None,
    ) -> Model:
        """Loads a GGUF file; ModelError for a missing or non-GGUF file."""
    def generate(
        self,
        identity: Identity,
        prompt: str,
        *,
        system: Optional[str] = None,
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        top_k: Optional[int] = None,
        min_p: Optional[float] = None,
        repeat_penalty: Optional[float] = None,
        seed: Optional[int] = None,
        stop: Optional[list[str]] = None,
        ihsan: Optional[IhsanInputs] = None,
        provenance: Optional[Iterable[Union[str, Envelope]]] = None,
        ttl: Optional[int] = None,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Envelope:
        """The answer as a signed envelope (text in payload["output"], measured scores).

        Unset sampling arguments take the core's defaults; temperature=0 is greedy.
        ``ihsan``: the dimensions the caller vouches for (the rest count 0); ``provenance``: the
        envelopes (or ids) the prompt came from; ``ttl``: the envelope's lifetime in seconds.
        ``timeout`` (seconds) and ``cancel`` stop the generation at its next token: the partial
        answer is returned, signed, with finish_reason "cancelled". Ctrl-C stops it and raises
        KeyboardInterrupt. PromptTooLongError when the prompt does not fit n_ctx."""
    def stream(
        self,
        identity: Identity,
        prompt: str,
        *,
        system: Optional[str] = None,
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        top_k: Optional[int] = None,
        min_p: Optional[float] = None,
        repeat_penalty: Optional[float] = None,
        seed: Optional[int] = None,
        stop: Optional[list[str]] = None,
        ihsan: Optional[IhsanInputs] = None,
        provenance: Optional[Iterable[Union[str, Envelope]]] = None,
        ttl: Optional[int] = None,
    ) -> TokenStream:
        """Starts generating; the TokenStream yields str pieces, then the signed Envelope."""
    def astream(
        self,
        identity: Identity,
        prompt: str,
        *,
        system: Optional[str] = None,
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        top_k: Optional[int] = None,
        min_p: Optional[float] = None,
        repeat_penalty: Optional[float] = None,
        seed: Optional[int] = None,
        stop: Optional[list[str]] = None,
        ihsan: Optional[IhsanInputs] = None,
        provenance: Optional[Iterable[Union[str, Envelope]]] = None,
        ttl: Optional[int] = None,
    ) -> AsyncTokenStream:
        """`stream` for `async for`, fed by a worker thread (the event loop never blocks)."""
    def embed(self, text: str) -> list[float]:
        """L2-normalised sentence embedding (a dot product is the cosine similarity)."""
    def close(self) -> None:
        """Releases the model; later calls raise InvalidInputError; metadata stays readable."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc: object) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def architecture(self) -> str: ...
    @property
    def parameters(self) -> int: ...
    @property
    def quantization(self) -> str: ...
    @property
    def context_length(self) -> Optional[int]: ...
    @property
    def n_ctx(self) -> int: ...
    @property
    def file_size(self) -> int: ...
    @property
    def file_blake3(self) -> str: ...
    @property
    def tier(self) -> ModelTier: ...
    @property
    def chat_template(self) -> Optional[str]: ...

@final
class Pool:
    """A remote pool: a client for an OpenAI-compatible server (base_url such as
    "http://127.0.0.1:8080/v1"). The API key (default: BIZRA_POOL_API_KEY or OPENAI_API_KEY) is
    never shown; unset options take the core's defaults; timeouts are in seconds."""

    def __new__(
        cls,
        base_url: str,
        *,
        api_key: Optional[str] = None,
        model: Optional[str] = None,
        connect_timeout: Optional[float] = None,
        read_timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        top_logprobs: Optional[int] = None,
        vocab_size: Optional[int] = None,
        max_in_flight: Optional[int] = None,
    ) -> Self: ...
    @property
    def base_url(self) -> str: ...

@final
class Gateway:
    """Routes requests between an Edge model, a Local model and pools (tried in order), with
    fallbacks such as ("pool", "edge"); the envelope's payload records the route."""

    def __new__(
        cls,
        *,
        edge: Optional[Model] = None,
        local: Optional[Model] = None,
        pools: Sequence[Pool] = ...,
        fallbacks: Sequence[tuple[Union[ModelTier, str], Union[ModelTier, str]]] = ...,
    ) -> Self: ...
    def decide(
        self,
        prompt: str,
        *,
        system: Optional[str] = None,
        max_tokens: Optional[int] = None,
        tier: Union[ModelTier, str, None] = None,
    ) -> TierDecision:
        """The tier the gateway would serve the prompt from, without generating."""
    def generate(
        self,
        identity: Identity,
        prompt: str,
        *,
        system: Optional[str] = None,
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        top_k: Optional[int] = None,
        min_p: Optional[float] = None,
        repeat_penalty: Optional[float] = None,
        seed: Optional[int] = None,
        stop: Optional[list[str]] = None,
        ihsan: Optional[IhsanInputs] = None,
        provenance: Optional[Iterable[Union[str, Envelope]]] = None,
        ttl: Optional[int] = None,
        tier: Union[ModelTier, str, None] = None,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Envelope:
        """Model.generate through the gateway; ``tier`` forces the tier. RemoteUnavailableError
        or RemoteRefusedError when a pool fails and no fallback serves."""
    def stream(
        self,
        identity: Identity,
        prompt: str,
        *,
        system: Optional[str] = None,
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        top_k: Optional[int] = None,
        min_p: Optional[float] = None,
        repeat_penalty: Optional[float] = None,
        seed: Optional[int] = None,
        stop: Optional[list[str]] = None,
        ihsan: Optional[IhsanInputs] = None,
        provenance: Optional[Iterable[Union[str, Envelope]]] = None,
        ttl: Optional[int] = None,
        tier: Union[ModelTier, str, None] = None,
    ) -> TokenStream:
        """Model.stream through the gateway: str pieces, then the signed Envelope."""
    def astream(
        self,
        identity: Identity,
        prompt: str,
        *,
        system: Optional[str] = None,
        max_tokens: Optional[int] = None,
        temperature: Optional[float] = None,
        top_p: Optional[float] = None,
        top_k: Optional[int] = None,
        min_p: Optional[float] = None,
        repeat_penalty: Optional[float] = None,
        seed: Optional[int] = None,
        stop: Optional[list[str]] = None,
        ihsan: Optional[IhsanInputs] = None,
        provenance: Optional[Iterable[Union[str, Envelope]]] = None,
        ttl: Optional[int] = None,
        tier: Union[ModelTier, str, None] = None,
    ) -> AsyncTokenStream:
        """Model.astream through the gateway: `async for` over the pieces, then the Envelope."""
    @property
    def pools(self) -> list[str]: ...

@final
class TokenStream:
    """The tokens of a running generation, ending with its signed envelope.

    Iterating yields str pieces, which concatenate to the output, and last the signed output
    Envelope; ``.envelope`` returns that envelope too (reading it before the loop ends waits
    for the end of generation and skips the unread pieces). A generation error is raised by
    the iteration and again by ``.envelope``. ``close()`` (or the end of a ``with`` block) stops
    the generation and the iteration, and ``.envelope`` then returns at once the partial answer,
    signed, with finish_reason "cancelled". Dropping the stream (a ``break`` out of
    ``for piece in model.stream(...)``) or calling cancel() (from any thread) stops the generation
    too; after cancel() the pieces made before it are still yielded.

        >>> *pieces, envelope = model.stream(me, "Hi", max_tokens=8)
        >>> envelope.payload["output"] == "".join(pieces)
        True
    """

    def __iter__(self) -> TokenStream: ...
    def __next__(self) -> Union[str, Envelope]: ...
    @property
    def envelope(self) -> Envelope: ...
    def cancel(self) -> None:
        """Stops the generation at its next token; callable from any thread, at once."""
    def close(self) -> None:
        """Stops the generation and the iteration; .envelope then gives the partial answer."""
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc: object) -> None: ...

@final
class Node:
    """A federation member on a real UDP socket (SWIM membership, signed datagrams).

    It joins through its seeds, probes its peers, suspects and declares down the silent ones,
    and says goodbye when it leaves; its work runs on a thread of its own. ``leave()`` (also
    ``close()`` and the end of a ``with`` block) tells the members and stops; ``stop()`` stops
    without a word (the members declare it down by probing); a node collected by the garbage
    collector leaves. Afterwards members(), stats() and events() raise InvalidInputError.

        >>> with bizra.Node(me, bind="0.0.0.0:7946", seeds=["10.0.0.1:7946"]) as node:
        ...     for event in node.events():
        ...         print(event.kind, event.member.addr)
    """

    def __new__(
        cls,
        identity: Identity,
        *,
        bind: Optional[str] = None,
        advertise: Optional[str] = None,
        seeds: Optional[Iterable[str]] = None,
        federation: Optional[str] = None,
        allow: Optional[Iterable[_NodeKey]] = None,
        data_dir: Optional[_StrPath] = None,
        expected_members: Optional[int] = None,
        probe_period: Optional[_Seconds] = None,
        probe_rtt: Optional[_Seconds] = None,
        suspect_to_down_after: Optional[_Seconds] = None,
        remove_down_after: Optional[_Seconds] = None,
        gossip_interval: Optional[_Seconds] = None,
        announce_interval: Optional[_Seconds] = None,
        rejoin_interval: Optional[_Seconds] = None,
        max_clock_skew: Optional[_Seconds] = None,
        document: Optional[FederationDocument] = None,
        gates: Optional[GateChain] = None,
    ) -> Node:
        """Binds the UDP socket ("host:port"; default 0.0.0.0:DEFAULT_NODE_PORT, port 0 = any)
        and joins through ``seeds`` ("host:port" each). ``federation``: its name (default
        "bizra", or the document's); ``allow``: the keys that may join (None: anyone);
        ``data_dir``: where the boot counter (the generation) is kept. Timings in seconds (or
        timedeltas); None keeps the core's LAN default. ``document``: take part in consensus
        under this federation document (needs ``data_dir``; ``federation``, if given, must be
        the document's); ``gates``: the GateChain of built-in gates that judges proposals
        (default: every built-in gate), frozen while the node runs. InvalidInputError for a bad
        address, timing or consensus option; FileSystemError (an OSError) for a port in use."""
    @property
    def local_addr(self) -> str:
        """The address the socket is bound to, "host:port"."""
    @property
    def advertised_addr(self) -> str:
        """The address peers reach this node at, "host:port"."""
    @property
    def generation(self) -> int:
        """This boot's generation."""
    @property
    def node_id(self) -> str: ...
    @property
    def running(self) -> bool:
        """False once the node left or stopped."""
    def members(self) -> list[Member]:
        """Every member this node knows of (itself excluded), with its state."""
    def stats(self) -> NodeStats: ...
    def events(self) -> EventStream:
        """The events from now on: "joined" for every member already alive or suspect, then every
        change, in order; ends when the node stops."""
    def aevents(self) -> AsyncEventStream:
        """events() for `async for`, fed by a worker thread (the event loop never blocks)."""
    def propose(self, envelope: Envelope) -> bool:
        """Submits a bizra.proposal envelope to consensus: True when pooled, False when pooled
        or decided already. InvalidInputError without a document, for a non-proposal or a full
        pool; RejectError when the node's gate chain refuses it."""
    def decided(self, height: int) -> Optional[Decision]:
        """A decided height's certificate and batch from this node's storage, None if not
        decided here. InvalidInputError without a document, or for a height that is negative
        or beyond 64 bits."""
    def consensus_status(self) -> Optional[ConsensusStatus]:
        """Where consensus stands on this node; None without a document."""
    def consensus_events(self) -> ConsensusEventStream:
        """Decisions and equivocation evidence from now on, in order; ends when the node stops
        (at once without a document)."""
    def aconsensus_events(self) -> AsyncConsensusEventStream:
        """consensus_events() for `async for`, fed by a worker thread."""
    def leave(self) -> None:
        """Tells the members (they see "left"), then stops; harmless once gone."""
    def stop(self) -> None:
        """Stops without telling anyone (the members declare it down); harmless once gone."""
    def close(self) -> None:
        """leave()."""
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc: object) -> None: ...

@final
class Member:
    """One member of the federation as this node sees it."""

    @property
    def node_id(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def addr(self) -> str:
        """Where it listens, "host:port"."""
    @property
    def generation(self) -> int: ...
    @property
    def incarnation(self) -> int: ...
    @property
    def state(self) -> _MemberState: ...
    @property
    def last_heard(self) -> Optional[datetime]:
        """When an authenticated datagram of it last arrived (aware UTC), None if never."""

@final
class Event:
    """A membership change, with the member as it is after it."""

    @property
    def kind(self) -> _EventKind: ...
    @property
    def member(self) -> Member: ...
    @property
    def at(self) -> datetime:
        """When this node saw the change (aware UTC)."""

@final
class NodeStats:
    """A node's traffic counters."""

    @property
    def sent(self) -> int: ...
    @property
    def received(self) -> int: ...
    @property
    def dropped(self) -> dict[str, int]:
        """Datagrams dropped, by reason ("bad_signature", "replay", ...), zeros included;
        "queue_full" counts those the kernel dropped unread, the socket's queue full (Linux)."""
    @property
    def events_dropped(self) -> int:
        """Events dropped because a stream left its backlog unread."""

@final
class EventStream:
    """A node's membership events, in order; ends when the node stops or on close().

    Iterating blocks (GIL released; Ctrl-C raises KeyboardInterrupt); ``next(timeout=...)``
    waits at most that long; ``async for`` reads it from asyncio through a worker thread.
    """

    def __iter__(self) -> EventStream: ...
    def __next__(self) -> Event: ...
    def next(self, timeout: Optional[_Seconds] = None) -> Optional[Event]:
        """The next event, or None when ``timeout`` seconds pass without one (0: only a queued
        one); StopIteration once the stream has ended."""
    def close(self) -> None:
        """Ends the stream (a waiting iteration stops within a moment)."""
    @property
    def closed(self) -> bool:
        """Whether the stream has ended."""
    def __aiter__(self) -> AsyncEventStream: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc: object) -> None: ...

@final
class Validator:
    """One validator of a federation document."""

    @property
    def key(self) -> str:
        """Its public key, 64 lowercase hex (as votes and certificates name it)."""
    @property
    def power(self) -> int:
        """Its voting power."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class FederationDocument:
    """The validators of one epoch of one federation, their voting powers and the round timeouts
    (CONSENSUS-v1). Immutable; equal documents have equal hashes."""

    @staticmethod
    def from_json(text: str) -> FederationDocument:
        """Reads a document; InvalidInputError names the field that is wrong."""
    def to_json(self) -> str:
        """The canonical JSON (RFC 8785), every timeout written out."""
    @property
    def hash(self) -> str:
        """H("bizra-document-v1:", canonical JSON) as 64 lowercase hex."""
    @property
    def hash_bytes(self) -> bytes:
        """The hash as 32 bytes."""
    @property
    def federation(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def validators(self) -> list[Validator]:
        """In the document's order (which fixes proposer rotation)."""
    @property
    def total_power(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Certificate:
    """A commit certificate: a federation's proof that it decided a value at a height, verified
    offline against the federation document of its epoch. Immutable."""

    @staticmethod
    def from_json(text: str) -> Certificate:
        """Reads a certificate; CertificateError with code 1 (MALFORMED) for text that is not one."""
    def verify(self, document: FederationDocument) -> None:
        """Raises CertificateError with the first failure's code: federation (2), epoch (3), each
        signer (4, 5, 6), the signers' power (7)."""
    def verify_batch(self, batch_json: str, document: FederationDocument) -> None:
        """verify, then CertificateError with code 8 (VALUE_MISMATCH) when the batch is not the
        certified value; InvalidInputError for a batch that cannot be read."""
    def to_json(self) -> str:
        """The canonical JSON (RFC 8785, signatures in ascending order of key)."""
    @property
    def federation(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def round(self) -> int: ...
    @property
    def value(self) -> str:
        """The decided value's id (the batch's hash), 64 lowercase hex."""
    @property
    def signature_count(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Decision:
    """A height the federation decided: its commit certificate and the batch of proposals."""

    @property
    def height(self) -> int: ...
    @property
    def round(self) -> int:
        """The round in which it was decided."""
    @property
    def certificate(self) -> Certificate:
        """Checkable offline: ``certificate.verify_batch(batch_json, document)``."""
    @property
    def batch_json(self) -> str:
        """The decided batch's JSON text (the certified value is its hash)."""
    @property
    def proposals(self) -> list[Envelope]:
        """The decided proposals, in the batch's order (ascending id)."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Evidence:
    """Two validly signed, conflicting messages from one validator for one height, round and
    step: proof of equivocation that anyone holding the document can check."""

    def __new__(
        cls,
        validator: str,
        height: int,
        round: int,
        step: _EvidenceStep,
        first: Buffer,
        second: Buffer,
    ) -> Evidence:
        """Evidence from its parts (the messages in their wire encoding); only their form is
        checked here."""
    @property
    def validator(self) -> str:
        """The validator's key, 64 lowercase hex."""
    @property
    def height(self) -> int: ...
    @property
    def round(self) -> int: ...
    @property
    def step(self) -> _EvidenceStep: ...
    @property
    def first(self) -> bytes:
        """The message seen first, in its wire encoding."""
    @property
    def second(self) -> bytes:
        """The conflicting message, in its wire encoding."""
    def verify(self, document: FederationDocument) -> None:
        """Raises EvidenceError with the first failure's code (EVIDENCE_CODES); None for
        evidence that proves equivocation."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class ConsensusEngineStats:
    """What a node's consensus engine has seen and done."""

    @property
    def received(self) -> int: ...
    @property
    def refused(self) -> int: ...
    @property
    def bad_signatures(self) -> int: ...
    @property
    def broadcasts(self) -> int: ...
    @property
    def persisted(self) -> int: ...
    @property
    def decided(self) -> int: ...
    @property
    def invalid_proposals(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class ConsensusStatus:
    """Where a node's consensus stands (a snapshot)."""

    @property
    def height(self) -> int:
        """The height being decided."""
    @property
    def round(self) -> int: ...
    @property
    def decided(self) -> int:
        """The highest height decided (and stored)."""
    @property
    def pending(self) -> int:
        """Submitted proposals waiting for a batch."""
    @property
    def validator(self) -> bool:
        """Whether this node votes."""
    @property
    def linked(self) -> int:
        """Peers with an authenticated link."""
    @property
    def engine(self) -> ConsensusEngineStats: ...
    @property
    def frames_dropped(self) -> int: ...
    @property
    def failure(self) -> Optional[str]:
        """Why consensus stopped on this node (its storage failed), if it did."""

@final
class ConsensusEventStream:
    """A node's consensus events (Decision, Evidence), in order; ends when the node stops or on
    close().

    Iterating blocks (GIL released; Ctrl-C raises KeyboardInterrupt); ``next(timeout=...)``
    waits at most that long; ``async for`` reads it from asyncio through a worker thread.
    """

    def __iter__(self) -> ConsensusEventStream: ...
    def __next__(self) -> Union[Decision, Evidence]: ...
    def next(self, timeout: Optional[_Seconds] = None) -> Union[Decision, Evidence, None]:
        """The next event, or None when ``timeout`` seconds pass without one (0: only a queued
        one); StopIteration once the stream has ended."""
    def close(self) -> None:
        """Ends the stream (a waiting iteration stops within a moment)."""
    @property
    def closed(self) -> bool:
        """Whether the stream has ended."""
    def __aiter__(self) -> AsyncConsensusEventStream: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc: object) -> None: ...

@final
class Pattern:
    """A learned pattern, as the store held it when it was read."""

    @property
    def id(self) -> int: ...
    @property
    def content(self) -> str: ...
    @property
    def content_blake3(self) -> str: ...
    @property
    def embedding(self) -> list[float]: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def source_node(self) -> str: ...
    @property
    def envelope(self) -> Envelope:
        """The envelope that introduced the pattern."""
    @property
    def envelope_id(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def observations(self) -> int: ...
    @property
    def positive(self) -> int: ...
    @property
    def negative(self) -> int: ...
    @property
    def created(self) -> datetime: ...
    @property
    def updated(self) -> datetime: ...
    @property
    def elevation(self) -> Literal["none", "local", "certified"]: ...
    @property
    def height(self) -> Optional[int]:
        """The consensus height that certified it, or None."""
    @property
    def certificate(self) -> Optional[Certificate]:
        """The commit certificate that certified it, or None."""

@final
class Recalled:
    """A pattern found by ``Store.recall``, with its cosine similarity to the query."""

    @property
    def pattern(self) -> Pattern: ...
    @property
    def similarity(self) -> float: ...

@final
class Preference:
    """One value of (``kind``, ``key``) and the confidence in it; ``active`` from 0.7."""

    @property
    def kind(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def observations(self) -> int: ...
    @property
    def active(self) -> bool: ...
    @property
    def created(self) -> datetime: ...
    @property
    def updated(self) -> datetime: ...

@final
class Learned:
    """What ``Store.learn`` did to pattern ``id``."""

    @property
    def id(self) -> int: ...
    @property
    def outcome(self) -> Literal["new", "observed", "already_known"]: ...

@final
class ImportReport:
    """What ``Store.import_jsonl`` did."""

    @property
    def lines(self) -> int: ...
    @property
    def new(self) -> int: ...
    @property
    def observed(self) -> int: ...
    @property
    def already_known(self) -> int: ...

@final
class Store:
    """A node's memory: patterns learned from verified envelopes, recalled by meaning, moved by
    feedback and elevated; and preferences. ``Store(path)`` / ``Store.open(path)`` open a SQLite
    file (created if absent), ``Store.in_memory()`` keeps everything in memory."""

    def __new__(cls, path: _StrPath) -> Self: ...
    @staticmethod
    def open(path: _StrPath) -> Store: ...
    @staticmethod
    def in_memory() -> Store: ...
    @property
    def path(self) -> str: ...
    @property
    def dimension(self) -> Optional[int]: ...
    def __len__(self) -> int: ...
    def learn(
        self,
        envelope: Envelope,
        embedding: Optional[Sequence[float]] = None,
        *,
        model: Optional[Model] = None,
        tags: Sequence[str] = ...,
        now: Optional[datetime] = None,
        policy: Optional[_Policy] = None,
        replay: Optional[ReplayCache] = None,
    ) -> Learned:
        """Learns the envelope's content (verified first) with ``embedding``, or with
        ``model``'s embedding of it."""
    def recall(
        self,
        query: Union[str, Sequence[float]],
        *,
        model: Optional[Model] = None,
        k: int = 10,
        threshold: float = 0.5,
    ) -> list[Recalled]:
        """The nearest patterns to a vector, or to a text embedded by ``model``."""
    def feedback(self, id: int, positive: bool) -> Pattern:
        """+0.05 or −0.03 to the pattern's confidence (clamped); returns the pattern."""
    def get(self, id: int) -> Optional[Pattern]: ...
    def patterns(self) -> list[Pattern]: ...
    def remove(self, id: int) -> bool: ...
    def elevated(self) -> list[Pattern]: ...
    def elevate_local(
        self, *, threshold: Optional[float] = None, min_observations: Optional[int] = None
    ) -> list[int]:
        """Elevates, locally, the eligible patterns (default: confidence ≥ 0.95, 3 observations)."""
    def verify_elevation(self, id: int, document: FederationDocument) -> None: ...
    def observe_preference(self, kind: str, key: str, value: str) -> Preference: ...
    def preference(self, kind: str, key: str) -> Optional[Preference]:
        """The active value of (kind, key), or None when none is active yet."""
    def preferences(self) -> list[Preference]: ...
    def active_preferences(self) -> list[Preference]: ...
    def apply_preferences(self, system_prompt: Optional[str] = None) -> str: ...
    def export_jsonl(self, identity: Identity) -> str: ...
    def import_jsonl(
        self,
        data: Union[str, bytes],
        *,
        now: Optional[datetime] = None,
        policy: Optional[_Policy] = None,
        replay: Optional[ReplayCache] = None,
    ) -> ImportReport:
        """All lines or none; a line that does not verify raises, naming the line."""
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc: object) -> None: ...
