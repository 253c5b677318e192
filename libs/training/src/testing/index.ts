/** Test support for @edgeloop/training: synthetic faces and a rotated embedder. Not for production code. */
export { around, DEFAULT_SYNTHETIC_OPTIONS, identityLabel, syntheticFaces } from './synthetic';
export type { SyntheticFacesOptions } from './synthetic';
export { appendOrthogonalTransform, orthogonalMatrix, ROTATION_INITIALIZER } from './orthogonal-embedder';
export { probeAt, TWO_PEOPLE } from './probes';
