import { driftingDevices } from './attribution';
import { daylightScene, dimBlurredStrangersScene, simulateBatches, unitVector } from './testing/simulate';
import { accumulateBatch, createWindowStats, type WindowStats } from './window-stats';
import type { Scene } from './testing/simulate';

const person = unitVector(7);
const window = (scene: Scene, seed: number, frames: number): WindowStats =>
  simulateBatches(scene, { seed, frames }).reduce(accumulateBatch, createWindowStats());

describe('driftingDevices', () => {
  const reference = window(daylightScene(person), 1, 1200);

  it('names the devices whose own window drifted, not every device of the window', () => {
    const byDevice = new Map([
      ['cam-3', window(daylightScene(person), 3, 300)],
      ['cam-1', window(daylightScene(person), 2, 300)],
      ['cam-9', window(dimBlurredStrangersScene(), 9, 300)],
      ['cam-5', window(dimBlurredStrangersScene(), 5, 300)],
    ]);
    expect(driftingDevices(reference, byDevice)).toEqual(['cam-5', 'cam-9']);
  });

  it('leaves out a device that sent too little to be judged on any metric', () => {
    const byDevice = new Map([
      ['cam-1', window(dimBlurredStrangersScene(), 2, 300)],
      ['cam-2', window(dimBlurredStrangersScene(), 3, 20)],
    ]);
    expect(driftingDevices(reference, byDevice)).toEqual(['cam-1']);
  });

  it('names every device when none can be singled out (each too small to judge alone)', () => {
    const byDevice = new Map([
      ['cam-2', window(dimBlurredStrangersScene(), 3, 20)],
      ['cam-1', window(dimBlurredStrangersScene(), 4, 20)],
    ]);
    expect(driftingDevices(reference, byDevice)).toEqual(['cam-1', 'cam-2']);
  });
});
