import type { DriftMetric } from '@edgeloop/contracts';
import { advanceDriftAlarm, DriftAlarm, initialDriftAlarmState, resolveDriftAlarmOptions, type DriftAlarmOptions } from './alarm';
import type { DriftFinding } from './detector';
import { seededNormal } from './testing/random';

const MINUTE = 60_000;
const T0 = 1_769_860_800_000;

function finding(metric: DriftMetric, value: number, threshold = 0.25, drifted = Math.abs(value) >= threshold): DriftFinding {
  return { metric, value, threshold, drifted, samples: { reference: 1000, current: 1000 } };
}

/** Feeds one PSI value a minute and counts what the alarm says. */
function run(alarm: DriftAlarm, values: Array<number | null>, metric: DriftMetric = 'score_psi') {
  const fires: number[] = [];
  const clears: Array<{ at: number; fired: boolean }> = [];
  values.forEach((value, i) => {
    const at = T0 + i * MINUTE;
    const { fire, clear } = alarm.observe(value === null ? [] : [finding(metric, value)], at);
    if (fire) fires.push(i);
    if (clear) clears.push({ at: i, fired: clear.fired });
  });
  return { fires, clears };
}

const steady = (count: number, seed: number) => Array.from({ length: count }, ((n) => () => Math.max(0, 0.05 + 0.03 * n()))(seededNormal(seed)));
const drifting = (count: number, seed: number) => Array.from({ length: count }, ((n) => () => Math.max(0, 0.35 + 0.1 * n()))(seededNormal(seed)));

describe('DriftAlarm', () => {
  it('raises one event for a noisy drift, not a storm, even with no cool-down', () => {
    const signal = [...steady(20, 1), ...drifting(40, 2), ...steady(40, 3)];
    const naive = signal.filter((value) => value >= 0.25).length;
    expect(naive).toBeGreaterThan(20); // what firing on every drifted window would send
    expect(signal.slice(20, 60).some((value) => value < 0.25)).toBe(true); // the drift dips under the threshold

    const alarm = new DriftAlarm({ confirmWindows: 2, clearWindows: 3, clearRatio: 0.5, cooldownMs: 0 });
    const { fires, clears } = run(alarm, signal);
    expect(fires).toHaveLength(1);
    expect(fires[0]).toBeGreaterThanOrEqual(21);
    expect(fires[0]).toBeLessThan(26);
    expect(clears).toEqual([{ at: 62, fired: true }]); // three windows under 0.125 after the drift ends
    expect(alarm.status).toBe('ok');
    // The same signal without hysteresis (confirm after 1, clear at the threshold after 1) storms.
    const bare = run(new DriftAlarm({ confirmWindows: 1, clearWindows: 1, clearRatio: 1, cooldownMs: 0 }), signal);
    expect(bare.fires.length).toBeGreaterThan(3);
  });

  it('needs K consecutive drifted windows: a flapping metric never fires', () => {
    const alarm = new DriftAlarm({ confirmWindows: 2 });
    expect(run(alarm, [0.4, 0.1, 0.4, 0.1, 0.4, 0.1, 0.4]).fires).toEqual([]);
    expect(run(new DriftAlarm({ confirmWindows: 3 }), [0.4, 0.4, 0.4]).fires).toEqual([2]);
  });

  it('respects the cool-down: held back at the start, fired once after it if still drifting', () => {
    const alarm = new DriftAlarm({ confirmWindows: 2, clearWindows: 2, cooldownMs: 30 * MINUTE });
    const signal = [
      ...[0.4, 0.4, 0.4], // episode 1 fires at minute 1
      ...[0.05, 0.05], // cleared at minute 4
      ...Array<number>(35).fill(0.4), // episode 2 confirmed at minute 6, inside the cool-down; fires at minute 31
      ...[0.05, 0.05], // cleared at minute 41
      ...[0.4, 0.4, 0.4, 0.05, 0.05], // episode 3 at minute 43, inside the cool-down of minute 31, clears at minute 46
    ];
    const { fires, clears } = run(alarm, signal);
    expect(fires).toEqual([1, 31]);
    expect(clears).toEqual([
      { at: 4, fired: true },
      { at: 41, fired: true },
      { at: 46, fired: false },
    ]);
  });

  it('is one episode, with one event, when a second metric drifts during it; it ends when both clear', () => {
    let state = initialDriftAlarmState();
    const events: string[] = [];
    const windows: DriftFinding[][] = [
      [finding('brightness_shift', -2, 0.8), finding('score_psi', 0.05)],
      [finding('brightness_shift', -2, 0.8), finding('score_psi', 0.05)], // fire: brightness confirmed
      [finding('brightness_shift', -2, 0.8), finding('score_psi', 0.4)],
      [finding('brightness_shift', -0.1, 0.8), finding('score_psi', 0.4)], // score_psi joins the episode
      [finding('brightness_shift', -0.1, 0.8), finding('score_psi', 0.05)],
      [finding('brightness_shift', -0.1, 0.8), finding('score_psi', 0.05)],
      [finding('brightness_shift', -0.1, 0.8), finding('score_psi', 0.05)], // both under for 3 windows: clear
    ];
    windows.forEach((findings, i) => {
      const step = advanceDriftAlarm(state, findings, T0 + i * MINUTE);
      state = step.state;
      if (step.fire) events.push(`fire@${i}:${step.fire.findings.map((f) => f.metric).join(',')}`);
      if (step.clear) events.push(`clear@${i}`);
      if (i === 3) expect(state.episode!.metrics).toEqual(['brightness_shift', 'score_psi']);
    });
    expect(events).toEqual(['fire@1:brightness_shift', 'clear@6']);
  });

  it('treats a window without the metric as no observation, and a significant-free KS as neither over nor under', () => {
    expect(run(new DriftAlarm(), [0.4, null, 0.4]).fires).toEqual([2]);
    const alarm = new DriftAlarm({ clearWindows: 2 });
    expect(run(alarm, [0.4, 0.4, null, null, null, 0.05, null, 0.05])).toEqual({ fires: [1], clears: [{ at: 7, fired: true }] });

    let state = initialDriftAlarmState();
    for (let i = 0; i < 5; i++) {
      // D over its threshold, but p not under alpha: not drifted, and not cleared either.
      state = advanceDriftAlarm(state, [finding('score_ks', 0.2, 0.15, false)], T0 + i * MINUTE).state;
    }
    expect(state.streaks.score_ks).toEqual({ over: 0, under: 0 });
    expect(state.status).toBe('ok');
  });

  it('serialises its state: a restored alarm carries on exactly as one that never stopped', () => {
    const signal = [...steady(5, 7), ...drifting(10, 8), ...steady(10, 9)];
    const options: Partial<DriftAlarmOptions> = { cooldownMs: 0 };
    const uninterrupted = run(new DriftAlarm(options), signal);

    let alarm = new DriftAlarm(options);
    const fires: number[] = [];
    signal.forEach((value, i) => {
      alarm = DriftAlarm.fromJSON(JSON.parse(JSON.stringify(alarm)), options); // stored in SQL between windows
      if (alarm.observe([finding('score_psi', value)], T0 + i * MINUTE).fire) fires.push(i);
    });
    expect(fires).toEqual(uninterrupted.fires);
    expect(fires).toHaveLength(1);
  });

  it('ignores a window it has already seen, so a retried job changes nothing', () => {
    const alarm = new DriftAlarm();
    alarm.observe([finding('score_psi', 0.4)], T0);
    expect(alarm.observe([finding('score_psi', 0.4)], T0 + MINUTE).fire).not.toBeNull();
    const before = alarm.state;
    expect(alarm.observe([finding('score_psi', 0.4)], T0 + MINUTE)).toEqual({ fire: null, clear: null });
    expect(alarm.observe([finding('score_psi', 0.01)], T0)).toEqual({ fire: null, clear: null });
    expect(alarm.state).toEqual(before);
  });

  it('leaves the given state untouched and refuses bad states and options', () => {
    const state = initialDriftAlarmState();
    const step = advanceDriftAlarm(state, [finding('score_psi', 0.4)], T0);
    expect(state).toEqual(initialDriftAlarmState());
    expect(step.state.streaks.score_psi).toEqual({ over: 1, under: 0 });
    expect(() => DriftAlarm.fromJSON({ ...state, status: 'drifting' })).toThrow(expect.objectContaining({ code: 'INVALID_ALARM_STATE' }));
    expect(() => DriftAlarm.fromJSON({ ...state, streaks: { nonsense: { over: 1, under: 0 } } })).toThrow(/INVALID|streaks/i);
    expect(() => resolveDriftAlarmOptions({ clearRatio: 1.5 })).toThrow(expect.objectContaining({ code: 'INVALID_DRIFT_SETTINGS' }));
    expect(resolveDriftAlarmOptions({ cooldownMs: 0 })).toEqual({ confirmWindows: 2, clearWindows: 3, clearRatio: 0.5, cooldownMs: 0 });
  });
});
