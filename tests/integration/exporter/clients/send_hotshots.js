// send_hotshots.js PORT PREFIX: the hot-shots DogStatsD client (npm) sends a fixed set of
// metrics, events and service checks over UDP to 127.0.0.1:PORT, each name under PREFIX
// (""), in whatever configuration the environment gives it (DD_ENV, DD_SERVICE,
// DD_VERSION, DD_ENTITY_ID, DD_EXTERNAL_ENV, DD_CARDINALITY: the Kubernetes one).
// ingest_clients.sh knows what each call must become.
'use strict';
const StatsD = require('hot-shots');

// Sampling is the client's coin toss: make it always send so the counts are exact (the
// |@rate field and the exporter's 1/rate scaling are what is tested).
Math.random = () => 0;

const [port, prefix] = [parseInt(process.argv[2], 10), process.argv[3] || ''];
const c = new StatsD({
  host: '127.0.0.1',
  port,
  protocol: 'udp',
  prefix,
  telemetryFlushInterval: 60000,
  errorHandler: (e) => { console.error('hot-shots:', e.message); process.exitCode = 1; },
});

c.increment('myService.HTTPErrors', 1, {OS: 'linux', clientID: 'a1'});
c.increment('myService.HTTPErrors', 1, {OS: 'linux', clientID: 'a1'});
c.increment('HTTP.requests', 5, 0.5);                 // sample rate: counts 10
if (process.env.DD_ENV) {
  // the application convention, from a client without the prefix
  const plain = new StatsD({host: '127.0.0.1', port, protocol: 'udp', telemetryFlushInterval: 60000});
  plain.increment('checkout.request.success', 3);
  plain.close(() => {});
}
c.gauge('disk.used.mb', 512);
c.gauge('uptime.s', 42);
c.gauge('pool.gauge.level', 3);
c.gauge('queue.count', 7);
c.gaugeDelta('queue.depth', 5);
c.gaugeDelta('queue.depth', -2);
c.timing('api.response.ms', 12);
c.timing('api.response.ms', 30);
c.timing('req.time_milliseconds', 250);
c.histogram('render.seconds', 0.25);
c.distribution('payload.size', 512);
c.set('users.unique', 'alice');
c.event('deploy', 'v2 rolled out', {alert_type: 'info'});
c.check('shop.db', c.CHECKS.OK, {hostname: 'h1', message: 'fine'});
c.close((err) => { if (err) { console.error(err); process.exitCode = 1; } });
