"""Constitution (thresholds, rules, compliance) and tier selection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bizra
from conftest import VECTORS_DIR


def test_default_constitution() -> None:
    c = bizra.Constitution()
    assert c == bizra.Constitution.default()
    assert len(c.hash) == 64 and len(c.hash_bytes) == 32
    assert (c.ihsan_minimum, c.snr_threshold) == (0.95, 0.85)
    assert c.ihsan_target >= c.ihsan_minimum
    assert (c.max_ttl_seconds, c.max_clock_skew_seconds) == (3600, 120)
    ids = [r.id for r in c.rules]
    assert {"IHSAN_001", "SNR_001", "CRYPTO_001"} <= set(ids)
    assert all(r.enforcement in ("strict", "advisory") for r in c.rules)
    assert bizra.Constitution.quorum(4) == 3 and bizra.Constitution.quorum(3) == 3
    assert c.hash[:8] in repr(c)


def test_compliance_check() -> None:
    c = bizra.Constitution()
    ok = c.check(snr=0.9, ihsan=0.96, has_signature=True, has_provenance=True)
    assert ok.compliant and bool(ok) and ok.failures == []
    missing = c.check(has_signature=True)
    assert not missing.compliant
    failed = {o.id for o in missing.failures}
    assert {"IHSAN_001", "SNR_001"} <= failed
    snr = next(o for o in missing.rules if o.id == "SNR_001")
    assert snr.value is None and snr.threshold == 0.85 and "fail-closed" in snr.detail
    low = c.check(snr=0.5, ihsan=0.99, has_signature=True, has_provenance=True)
    assert [o.id for o in low.failures] == ["SNR_001"]


def test_load_and_invalid_constitutions(tmp_path: Path) -> None:
    with open(VECTORS_DIR / "constitution-v1.json", encoding="utf-8") as f:
        doc = json.load(f)
    doc["ihsan"]["minimum"] = 1.5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(bizra.BizraError, match="ihsan.minimum"):
        bizra.Constitution.load(bad)
    with pytest.raises(FileNotFoundError):
        bizra.Constitution.load(tmp_path / "missing.json")
    with pytest.raises(bizra.BizraError):
        bizra.Constitution.from_json("[]")


def test_task_complexity() -> None:
    T = bizra.TaskComplexity
    assert T.estimate("What is 2+2?") == T.SIMPLE
    assert T.estimate("word " * 40) == T.MEDIUM
    assert T.estimate("Please explain recursion") == T.COMPLEX
    assert T.estimate("```rust\nfn main() {}\n```") == T.COMPLEX
    assert T.estimate("hi", max_tokens=4000) == T.EXPERT
    assert T.SIMPLE < T.MEDIUM < T.COMPLEX < T.EXPERT
    c, why = T.explain("hi", 4000)
    assert c == T.EXPERT and "2000" in why
    assert T.COMPLEX.label == "complex" and str(T.COMPLEX) == "complex"


def test_select_tier() -> None:
    d = bizra.select_tier("What is 2+2?")
    assert (d.complexity, d.tier, d.forced) == (bizra.TaskComplexity.SIMPLE, bizra.ModelTier.EDGE, False)
    assert bizra.select_tier("explain " * 250).tier == bizra.ModelTier.POOL
    forced = bizra.select_tier("hi", forced="pool")
    assert forced.tier == bizra.ModelTier.POOL and forced.forced and "forced" in forced.reason
    assert bizra.select_tier("hi", 10, bizra.ModelTier.LOCAL).tier == bizra.ModelTier.LOCAL
    with pytest.raises(ValueError, match="unknown tier"):
        bizra.select_tier("hi", forced="huge")
    assert bizra.ModelTier.from_name("Local") == bizra.ModelTier.LOCAL
    assert bizra.ModelTier.for_complexity(bizra.TaskComplexity.EXPERT) == bizra.ModelTier.POOL
    assert bizra.ModelTier.EDGE.parameter_range_billions == (0.5, 1.5)
    assert bizra.ModelTier.EDGE < bizra.ModelTier.POOL


def test_hardware_profile() -> None:
    hw = bizra.HardwareProfile.detect()
    assert hw.logical_cpus >= 1 and hw.cpu_cores >= 1
    assert hw.ram_total_bytes > 0 and hw.ram_available_bytes <= hw.ram_total_bytes
    assert isinstance(hw.gpus, list)
    best = hw.max_local_tier()
    assert not hw.can_serve(bizra.ModelTier.POOL)
    if best is not None:
        assert hw.can_serve(best) and hw.can_serve("edge")
    assert bizra.HardwareProfile.detect(".").logical_cpus == hw.logical_cpus
