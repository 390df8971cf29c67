// bizra commit certificates for Node: verify a federation's decision offline, holding only its
// document.
//
//     node examples/node/certificate.mjs DOCUMENT.json CERTIFICATE.json [BATCH.json]
//
// prints what the certificate proves, or why it is refused (exit status 1). With no arguments it
// verifies the CONSENSUS-v1 vectors' certificate (tests/vectors, or the directory BIZRA_VECTORS
// names), then a forged copy of it. No node is started and nothing touches the network: a
// certificate is checked against the federation document alone.
import { readFileSync } from 'node:fs'
import { BizraError, Certificate, FederationDocument } from 'bizra'

function verify(document, certificate, batch) {
  const doc = FederationDocument.fromJson(document)
  console.log(
    `document      ${doc.federation} epoch ${doc.epoch}: ${doc.validators.length} validators, ` +
      `power ${doc.totalPower}, hash ${doc.hash.slice(0, 16)}...`,
  )
  let cert
  try {
    cert = Certificate.fromJson(certificate)
    if (batch === undefined) cert.verify(doc)
    else cert.verifyBatch(batch, doc) // also: the batch is the value certified
  } catch (e) {
    if (!(e instanceof BizraError) || e.kind !== 'CERTIFICATE_REFUSED') throw e
    console.log(`refused       ${e.certificateCode} ${e.code}: ${e.detail}`)
    return false
  }
  console.log(
    `valid         height ${cert.height} round ${cert.round}: value ${cert.value.slice(0, 16)}..., ` +
      `${cert.signatures.length} signatures`,
  )
  return true
}

const args = process.argv.slice(2)
if (args.length > 0) {
  const [document, certificate, batch] = args.slice(0, 3).map((path) => readFileSync(path, 'utf8'))
  process.exitCode = verify(document, certificate, batch) ? 0 : 1
} else {
  const dir = process.env.BIZRA_VECTORS ?? new URL('../../tests/vectors/', import.meta.url).pathname
  const v = JSON.parse(readFileSync(`${dir}/consensus-v1-vectors.json`, 'utf8'))
  const document = v.documents.equal.json
  const genuine = v.certificates.find((c) => c.name === 'three-of-four').json
  const batch = v.batches.find((b) => b.name === 'two').json
  if (!verify(document, genuine, batch)) throw new Error('the genuine certificate was refused')
  const forged = genuine.replace('"height":7', '"height":8') // the same signatures, another height
  if (verify(document, forged)) throw new Error('the forged certificate verified')
}
