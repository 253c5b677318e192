import { evaluateDrift } from './detector';
import { DEFAULT_DRIFT_THRESHOLDS, type DriftThresholds } from './thresholds';
import type { WindowStats } from './window-stats';

/**
 * Which devices a drift event names: those whose own traffic in the window drifted from the reference — at
 * least one metric over its threshold on that device's statistics alone, with the same thresholds and
 * minimum samples as the pooled window. A device that sent too little to be judged on any metric, or whose
 * traffic looks like the reference, is left out. When no device can be singled out (the drift shows only
 * in the pooled traffic, each device's share too small or too faint), every device of the window is named:
 * the drift is in their traffic taken together. Sorted by id.
 */
export function driftingDevices(
  reference: WindowStats,
  windowByDevice: ReadonlyMap<string, WindowStats>,
  thresholds: DriftThresholds = DEFAULT_DRIFT_THRESHOLDS,
): string[] {
  const all = [...windowByDevice.keys()].sort();
  const drifting = all.filter((deviceId) => evaluateDrift(reference, windowByDevice.get(deviceId)!, thresholds).some((finding) => finding.drifted));
  return drifting.length > 0 ? drifting : all;
}
