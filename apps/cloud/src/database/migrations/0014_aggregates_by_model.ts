/**
 * The drift sweep reads a model version's aggregates by time every minute (its first bucket, its reference and
 * current windows): with only the primary key (model, version, device, bucket) and the bucket index, each of
 * those read every row of the version, a cost that grew with every minute of data kept.
 */
export const sql = `
create index prediction_aggregates_model_bucket on prediction_aggregates (model_name, model_version, bucket_start);
`;
