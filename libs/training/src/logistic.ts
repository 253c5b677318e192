import type { IdentityPrototypes } from '@edgeloop/vision';
import type { TrainingExample } from './dataset';
import { TrainingError } from './errors';
import { copyVector } from './vectors';

/**
 * Multinomial logistic regression over cosine scores, with rows kept at unit length so the result
 * is still a cosine head the edge's thresholds apply to.
 *
 * Model: logits `s·(w_k · x)` for the K identities plus one *unknown* logit `s·b` (a learned
 * cosine level), softmax, cross-entropy. Identity examples target their own row; strangers and
 * not-a-face examples target *unknown*, so every row is pushed below `b` for them. Regulariser:
 * `l2/2 · ‖W − P‖²`, the pull towards the prototypes `P` the rows start from (an L2 penalty on the
 * raw weights means nothing once rows are renormalised).
 *
 * Optimiser: full-batch Adam on the Riemannian gradient (radial part removed), rows projected
 * back to unit length after each step. Each example's softmax runs over its `candidates` nearest
 * rows (mined on the starting rows, again every `remineEvery` epochs) plus its own row and
 * *unknown*; the rows left out carry probability ≈ e^(s·(cos − top)), negligible at s = 16. This
 * makes an epoch O(N·M·D) instead of O(N·K·D); only mining is O(N·K·D). Residuals under 1e-6 are
 * skipped in the backward pass. Full batch and fixed iteration order: the result is deterministic.
 */

export interface LogisticOptions {
  epochs: number;
  learningRate: number;
  l2: number;
  /** Softmax scale s (inverse temperature) on cosine scores. */
  scale: number;
  /** Starting cosine level of the unknown logit. */
  unknownCosine: number;
  /** Rows per example in the truncated softmax. */
  candidates: number;
  remineEvery: number;
}

export const DEFAULT_LOGISTIC_OPTIONS: Readonly<LogisticOptions> = Object.freeze({
  epochs: 60,
  learningRate: 0.01,
  l2: 1e-3,
  scale: 16,
  unknownCosine: 0.4,
  candidates: 10,
  remineEvery: 60,
});

export interface LogisticFit {
  head: IdentityPrototypes;
  /** Learned cosine level of the unknown logit. */
  unknownCosine: number;
  /** Mean cross-entropy (+ regulariser) after the first and the last epoch. */
  loss: { first: number; last: number };
}

const ADAM_BETA1 = 0.9;
const ADAM_BETA2 = 0.999;
const ADAM_EPSILON = 1e-8;
/** A row whose softmax residual |p − y| is below this gets no gradient from that example. */
const NEGLIGIBLE_RESIDUAL = 1e-6;

function dotAt(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < d; i += 4) {
    s0 += a[ao + i] * b[bo + i];
    s1 += a[ao + i + 1] * b[bo + i + 1];
    s2 += a[ao + i + 2] * b[bo + i + 2];
    s3 += a[ao + i + 3] * b[bo + i + 3];
  }
  for (; i < d; i++) s0 += a[ao + i] * b[bo + i];
  return s0 + s1 + s2 + s3;
}

function normaliseRows(w: Float32Array, rows: number, d: number): void {
  for (let k = 0; k < rows; k++) {
    const o = k * d;
    const norm = Math.sqrt(dotAt(w, o, w, o, d));
    if (norm > 0) for (let i = 0; i < d; i++) w[o + i] /= norm;
  }
}

/** Inserts (score, row) into the descending top list if it beats the last entry. */
function offer(best: Float64Array, index: Int32Array, m: number, score: number, row: number): void {
  if (score <= best[m - 1]) return;
  let j = m - 1;
  while (j > 0 && best[j - 1] < score) {
    best[j] = best[j - 1];
    index[j] = index[j - 1];
    j--;
  }
  best[j] = score;
  index[j] = row;
}

/**
 * Per example, the `m` rows with the highest cosine, own row always included (in place of the
 * weakest when it is not among them). Returns a flat N×m index table. Rows are scored four at a
 * time so each embedding value is loaded once per four dot products.
 */
function mineCandidates(x: Float32Array, n: number, w: Float32Array, k: number, d: number, target: Int32Array, m: number): Int32Array {
  const table = new Int32Array(n * m);
  const best = new Float64Array(m);
  const index = new Int32Array(m);
  for (let e = 0; e < n; e++) {
    best.fill(-Infinity);
    index.fill(-1);
    const xo = e * d;
    let c = 0;
    for (; c + 3 < k; c += 4) {
      const o0 = c * d;
      const o1 = o0 + d;
      const o2 = o1 + d;
      const o3 = o2 + d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let i = 0; i < d; i++) {
        const v = x[xo + i];
        s0 += v * w[o0 + i];
        s1 += v * w[o1 + i];
        s2 += v * w[o2 + i];
        s3 += v * w[o3 + i];
      }
      offer(best, index, m, s0, c);
      offer(best, index, m, s1, c + 1);
      offer(best, index, m, s2, c + 2);
      offer(best, index, m, s3, c + 3);
    }
    for (; c < k; c++) offer(best, index, m, dotAt(x, xo, w, c * d, d), c);
    const own = target[e];
    if (own < k && !index.includes(own)) index[m - 1] = own;
    table.set(index, e * m);
  }
  return table;
}

/**
 * One full-batch pass: adds the mean cross-entropy gradient of every example (truncated softmax
 * over its candidate rows plus *unknown*) into `grad`; returns the summed loss and the gradient of
 * the unknown level. Kept small and separate so the JIT optimises the hot loops on their own.
 */
export function accumulateGradient(
  x: Float32Array,
  n: number,
  d: number,
  w: Float32Array,
  k: number,
  candidates: Int32Array,
  m: number,
  target: Int32Array,
  scale: number,
  bias: number,
  grad: Float32Array,
  logits: Float64Array,
): { loss: number; biasGrad: number } {
  let loss = 0;
  let biasGrad = 0;
  for (let e = 0; e < n; e++) {
    const xo = e * d;
    const co = e * m;
    const own = target[e];
    let ownLogit = scale * bias;
    let max = ownLogit;
    logits[m] = max;
    for (let j = 0; j < m; j++) {
      const c = candidates[co + j];
      const z = scale * dotAt(x, xo, w, c * d, d);
      logits[j] = z;
      if (z > max) max = z;
      if (c === own) ownLogit = z;
    }
    let sum = 0;
    for (let j = 0; j <= m; j++) {
      logits[j] = Math.exp(logits[j] - max);
      sum += logits[j];
    }
    loss += Math.log(sum) + max - ownLogit;
    for (let j = 0; j < m; j++) {
      const c = candidates[co + j];
      const residual = logits[j] / sum - (c === own ? 1 : 0);
      if (Math.abs(residual) < NEGLIGIBLE_RESIDUAL) continue;
      axpy((residual * scale) / n, x, xo, grad, c * d, d);
    }
    biasGrad += ((logits[m] / sum - (own === k ? 1 : 0)) * scale) / n;
  }
  return { loss, biasGrad };
}

/** y[yo…] += a · x[xo…] over d values. */
function axpy(a: number, x: Float32Array, xo: number, y: Float32Array, yo: number, d: number): void {
  let i = 0;
  for (; i + 3 < d; i += 4) {
    y[yo + i] += a * x[xo + i];
    y[yo + i + 1] += a * x[xo + i + 1];
    y[yo + i + 2] += a * x[xo + i + 2];
    y[yo + i + 3] += a * x[xo + i + 3];
  }
  for (; i < d; i++) y[yo + i] += a * x[xo + i];
}

export function fitLogistic(
  start: IdentityPrototypes,
  examples: readonly TrainingExample[],
  options: Partial<LogisticOptions> = {},
): LogisticFit {
  const o = { ...DEFAULT_LOGISTIC_OPTIONS, ...options };
  if (!(o.epochs >= 0 && o.learningRate > 0 && o.l2 >= 0 && o.scale > 0 && o.candidates >= 1 && o.remineEvery >= 1)) {
    throw new TrainingError('INVALID_OPTIONS', `invalid logistic options ${JSON.stringify(o)}`);
  }
  const k = start.labels.length;
  const d = start.prototypes[0].length;
  const m = Math.min(o.candidates, k);
  const labelIndex = new Map(start.labels.map((l, i) => [l, i]));
  // Identity examples of labels the head has, then negatives; anything else is skipped.
  const used = examples.filter((e) => e.kind !== 'identity' || (e.label !== null && labelIndex.has(e.label)));
  const n = used.length;
  const x = new Float32Array(n * d);
  const target = new Int32Array(n);
  used.forEach((e, i) => {
    if (e.embedding.length !== d) throw new TrainingError('DIMENSION_MISMATCH', `example "${e.id}" has ${e.embedding.length} values, expected ${d}`);
    copyVector(x, e.embedding, i * d);
    target[i] = e.kind === 'identity' ? (labelIndex.get(e.label as string) as number) : k; // k = unknown
  });
  const anchor = new Float32Array(k * d);
  start.prototypes.forEach((p, i) => copyVector(anchor, p, i * d));
  const w = Float32Array.from(anchor);
  let bias = o.unknownCosine;
  const grad = new Float32Array(k * d);
  const m1 = new Float32Array(k * d);
  const m2 = new Float32Array(k * d);
  let biasM1 = 0;
  let biasM2 = 0;
  const logits = new Float64Array(m + 1);
  let candidates: Int32Array = new Int32Array(0);
  const loss = { first: NaN, last: NaN };
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    if (epoch % o.remineEvery === 0) candidates = mineCandidates(x, n, w, k, d, target, m);
    grad.fill(0);
    const pass = accumulateGradient(x, n, d, w, k, candidates, m, target, o.scale, bias, grad, logits);
    const biasGrad = pass.biasGrad;
    const total = pass.loss;
    let penalty = 0;
    for (let r = 0; r < k; r++) {
      const ro = r * d;
      // Regulariser, then drop the radial component: only moves along the sphere count.
      for (let i = 0; i < d; i++) {
        const delta = w[ro + i] - anchor[ro + i];
        penalty += delta * delta;
        grad[ro + i] += o.l2 * delta;
      }
      const radial = dotAt(grad, ro, w, ro, d);
      for (let i = 0; i < d; i++) grad[ro + i] -= radial * w[ro + i];
    }
    const value = total / n + (o.l2 / 2) * penalty;
    if (epoch === 0) loss.first = value;
    loss.last = value;
    const t = epoch + 1;
    const step = (o.learningRate * Math.sqrt(1 - ADAM_BETA2 ** t)) / (1 - ADAM_BETA1 ** t);
    for (let i = 0; i < w.length; i++) {
      const g = grad[i];
      m1[i] = ADAM_BETA1 * m1[i] + (1 - ADAM_BETA1) * g;
      m2[i] = ADAM_BETA2 * m2[i] + (1 - ADAM_BETA2) * g * g;
      w[i] -= (step * m1[i]) / (Math.sqrt(m2[i]) + ADAM_EPSILON);
    }
    biasM1 = ADAM_BETA1 * biasM1 + (1 - ADAM_BETA1) * biasGrad;
    biasM2 = ADAM_BETA2 * biasM2 + (1 - ADAM_BETA2) * biasGrad * biasGrad;
    bias -= (step * biasM1) / (Math.sqrt(biasM2) + ADAM_EPSILON);
    normaliseRows(w, k, d);
  }
  return {
    head: { labels: [...start.labels], prototypes: start.labels.map((_, r) => w.slice(r * d, (r + 1) * d)) },
    unknownCosine: bias,
    loss,
  };
}
