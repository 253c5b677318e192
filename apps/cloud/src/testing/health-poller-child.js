'use strict';
/*
 * The child of `startHealthPoller` (health-poller.ts): `GET <url>` every `everyMs` (after each answer), each timed on
 * this process's clock — a client with nothing else to do, so that a test's own stalls are not counted as the API's.
 * IPC in: { type: 'start', url, everyMs }, then { type: 'stop' }. IPC out: { type: 'ready' } after the first answer,
 * then { type: 'report', answers: [[epoch ms at the request, ms, status, body], …] }.
 */
const now = () => performance.timeOrigin + performance.now();

process.once('message', (start) => {
  const answers = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = now();
      let status = 0;
      let body = '';
      try {
        const res = await fetch(start.url);
        body = await res.text();
        status = res.status;
      } catch (err) {
        body = String(err && err.message);
      }
      answers.push([at, now() - at, status, body]);
      if (answers.length === 1) process.send({ type: 'ready' });
      await new Promise((r) => setTimeout(r, start.everyMs));
    }
  })();
  process.on('message', (message) => {
    if (message.type !== 'stop') return;
    running = false;
    void loop.then(() => {
      process.send({ type: 'report', answers });
      process.disconnect();
    });
  });
});
