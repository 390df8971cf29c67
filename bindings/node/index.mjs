// ES module entry: the same objects as the CommonJS entry.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const bizra = require('./index.js')

export default bizra
export const {
  BizraError,
  REJECT_CODES,
  ERROR_KINDS,
  GateReport,
  rejectCodes,
  errorKinds,
  DEFAULT_TTL_SECONDS,
  MAX_TTL_SECONDS,
  MAX_CLOCK_SKEW_SECONDS,
  MAX_PROVENANCE,
  MAX_PAYLOAD_BYTES,
  DEFAULT_REPLAY_CAPACITY,
  version,
  Identity,
  verifyMessage,
  Envelope,
  verifyBatch,
  ReplayCache,
  Constitution,
  GateChain,
  estimateComplexity,
  selectTier,
  HardwareProfile,
  Model,
  TokenStream,
  Pool,
  Gateway,
  Store,
  DEFAULT_NODE_PORT,
  Node,
  NodeEvents,
  CERTIFICATE_CODES,
  EVIDENCE_CODES,
  FederationDocument,
  Certificate,
  Evidence,
  ConsensusEvents,
} = bizra
