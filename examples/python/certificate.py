"""bizra commit certificates: verify a federation's decision offline, holding only its document.

    python examples/python/certificate.py DOCUMENT.json CERTIFICATE.json [BATCH.json]

prints what the certificate proves, or why it is refused (exit status 1). With no arguments it
verifies the CONSENSUS-v1 vectors' certificate, then a forged copy of it. No node is started and
nothing touches the network: a certificate is checked against the federation document alone.
Run it with `make demo-python` (or directly once `pip install ./bindings/python` is done).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import bizra


def verify(document: str, certificate: str, batch: Optional[str] = None) -> bool:
    doc = bizra.FederationDocument.from_json(document)
    print(f"document      {doc.federation} epoch {doc.epoch}: {len(doc.validators)} validators,"
          f" power {doc.total_power}, hash {doc.hash[:16]}...")
    try:
        cert = bizra.Certificate.from_json(certificate)
        if batch is None:
            cert.verify(doc)
        else:
            cert.verify_batch(batch, doc)  # also: the batch is the value certified
    except bizra.CertificateError as e:
        print(f"refused       {e.code} {e.name}: {e.detail}")
        return False
    print(f"valid         height {cert.height} round {cert.round}: value {cert.value[:16]}...,"
          f" {cert.signature_count} signatures")
    return True


def main(args: list[str]) -> int:
    if args:
        texts = [Path(a).read_text(encoding="utf-8") for a in args[:3]]
        return 0 if verify(*texts) else 1
    vectors = Path(__file__).resolve().parents[2] / "tests" / "vectors" / "consensus-v1-vectors.json"
    v = json.loads(vectors.read_text(encoding="utf-8"))
    document = v["documents"]["equal"]["json"]
    genuine = next(c["json"] for c in v["certificates"] if c["name"] == "three-of-four")
    batch = next(b["json"] for b in v["batches"] if b["name"] == "two")
    assert verify(document, genuine, batch)
    forged = genuine.replace('"height":7', '"height":8')  # the same signatures, another height
    assert not verify(document, forged)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
