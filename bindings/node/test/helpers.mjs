// Shared by the suites: where the spec vectors are, and small helpers.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
// The suite runs from a temp project with the packed package installed; make passes the vectors
// directory. Run from the repository, it finds them itself.
export const VECTORS_DIR = process.env.BIZRA_VECTORS ?? join(here, '..', '..', '..', 'tests', 'vectors')
export const vectors = JSON.parse(readFileSync(join(VECTORS_DIR, 'pci-v1-vectors.json'), 'utf8'))
export const constitutionText = readFileSync(join(VECTORS_DIR, 'constitution-v1.json'), 'utf8')
export const hex = (s) => Buffer.from(s, 'hex')
