/**
 * Outbox epochs: a prediction batch is deduped on (device, epoch, seq). A device whose state folder is
 * wiped numbers its batches from 1 again under a new epoch; batches of edges older than the field have
 * the empty epoch, so their keys are the (device, seq) they had.
 */
export const sql = `
alter table prediction_batches add column epoch text not null default '';
alter table prediction_batches drop constraint prediction_batches_pkey;
alter table prediction_batches add primary key (device_id, epoch, seq);
`;
