import type { Command } from 'commander';
import { registerDeploy } from './deploy';
import { registerDevices } from './devices';
import { registerEnrolmentTokens } from './enrolment-tokens';
import { registerHardExamples } from './hard-examples';
import { registerIdentities } from './identities';
import { registerInfer } from './infer';
import { registerLogin } from './login';
import { registerModels } from './models';
import { registerObserve } from './observe';
import { registerRetrain } from './retrain';
import { registerStart } from './start';
import { registerStatus } from './status';

/** Every CLI command registers itself here; one file per command group. */
export function registerCommands(program: Command): void {
  registerStart(program);
  registerStatus(program);
  registerLogin(program);
  registerModels(program);
  registerInfer(program);
  registerDevices(program);
  registerEnrolmentTokens(program);
  registerIdentities(program);
  registerHardExamples(program);
  registerDeploy(program);
  registerObserve(program);
  registerRetrain(program);
}
