import type { Migration } from '../migrator';
import { sql as registry } from './0001_registry';
import { sql as devicesRollouts } from './0002_devices_rollouts';
import { sql as predictionsDrift } from './0003_predictions_drift';
import { sql as webhooks } from './0004_webhooks';
import { sql as blobVerification } from './0005_blob_verification';
import { sql as identities } from './0007_identities';
import { sql as retraining } from './0008_retraining';
import { sql as sessions } from './0009_sessions';
import { sql as enrolmentTokens } from './0010_enrolment_tokens';
import { sql as quotas } from './0011_quotas';
import { sql as outboxEpoch } from './0012_outbox_epoch';
import { sql as presenceOrder } from './0013_presence_order';
import { sql as aggregatesByModel } from './0014_aggregates_by_model';

/** Every migration, in the order it is applied. Add new files at the end; never edit an applied one. */
export const migrations: Migration[] = [
  { id: '0001_registry', sql: registry },
  { id: '0002_devices_rollouts', sql: devicesRollouts },
  { id: '0003_predictions_drift', sql: predictionsDrift },
  { id: '0004_webhooks', sql: webhooks },
  { id: '0005_blob_verification', sql: blobVerification },
  { id: '0007_identities', sql: identities },
  { id: '0008_retraining', sql: retraining },
  { id: '0009_sessions', sql: sessions },
  { id: '0010_enrolment_tokens', sql: enrolmentTokens },
  { id: '0011_quotas', sql: quotas },
  { id: '0012_outbox_epoch', sql: outboxEpoch },
  { id: '0013_presence_order', sql: presenceOrder },
  { id: '0014_aggregates_by_model', sql: aggregatesByModel },
];
