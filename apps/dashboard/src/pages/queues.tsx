/** bull-board, mounted by the cloud for admins at /api/v1/admin/queues behind the same session. */
export default function Queues() {
  return (
    <>
      <h1>Queues</h1>
      <p>
        The BullMQ queues (ingest, drift, webhooks, retraining, rollouts) in bull-board: jobs by state, retries, payloads.{' '}
        <a href="/api/v1/admin/queues/">Open the queue board</a>.
      </p>
    </>
  );
}
