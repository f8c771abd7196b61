'use strict';
// node examples/generate.js [HOST:PORT] — a Generate, a streamed answer, and the metrics.
const { OrchestratorClient } = require('../src/client');

async function main() {
  const client = new OrchestratorClient(process.argv[2] || '127.0.0.1:50051', { deadlineMs: 30000 });
  try {
    const reply = await client.generate({ prompt: 'What is a circuit breaker?', params: { maxTokens: 64 } });
    console.log(`${reply.provider}/${reply.model}: ${reply.text}`);

    const messages = [
      { role: 'ROLE_SYSTEM', content: 'Be brief.' },
      { role: 'ROLE_USER', content: 'Stream, please' },
    ];
    for await (const event of client.generateStream({ messages })) {
      if (event.delta) process.stdout.write(event.delta.text);
      if (event.end) console.log(`\n(${event.end.usage.totalTokens} tokens)`);
    }

    const metrics = await client.getMetrics();
    for (const p of metrics.providers) {
      console.log(`${p.name}: ${p.health}, ${p.requestsOk}/${p.requestsTotal} ok`);
    }
  } catch (error) {
    console.error(error.message, error.reason ? `(${error.reason})` : '');
    for (const a of error.attempts || []) console.error(`  tried ${a.provider}: ${a.errorCode}`);
    process.exitCode = 1;
  } finally {
    client.close();
  }
}

main();
