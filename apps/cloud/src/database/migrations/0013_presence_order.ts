/**
 * The `ts` of the status message the presence was taken from: replicas handle a device's messages in any
 * order, and an older status handled later must not overwrite a newer presence (the reported state orders
 * by the `ts` inside its jsonb).
 */
export const sql = `
alter table device_state add column presence_ts bigint;
`;
