'use strict';
// Runs against a live server at ORCHESTRATOR_ADDRESS (tests/e2e/test_node_client.py starts
// one with mock providers "alpha" replying "hello from node", "beta" and "gamma" failing as
// unavailable, a circuit breaker opening after one failure with a 0.5 s cooldown, and an
// alias "chat").
const test = require('node:test');
const assert = require('node:assert/strict');
const {
  OrchestratorClient, OrchestratorError, tool, toolArguments, toolResult, assistantMessage,
  jsonSchema, fromStruct,
} = require('../src/client');

const address = process.env.ORCHESTRATOR_ADDRESS;
if (!address) throw new Error('set ORCHESTRATOR_ADDRESS to a running server');
const client = new OrchestratorClient(address, { deadlineMs: 20000 });
test.after(() => client.close());

test('Generate returns text, provider and usage', async () => {
  const reply = await client.generate({ prompt: 'hi' }, { requestId: 'node-1' });
  assert.equal(reply.text, 'hello from node');
  assert.equal(reply.provider, 'alpha');
  assert.equal(reply.finishReason, 'FINISH_REASON_STOP');
  assert.equal(reply.usage.completionTokens, 3);
  assert.equal(reply.requestId, 'node-1');
});

test('GenerateStream yields start, deltas and end', async () => {
  const events = [];
  const request = { messages: [{ role: 'ROLE_USER', content: 'hi' }] };
  for await (const event of client.generateStream(request)) events.push(event);
  assert.deepEqual(Object.keys(events[0]), ['start']);
  assert.equal(events[0].start.provider, 'alpha');
  const text = events.filter((e) => e.delta).map((e) => e.delta.text).join('');
  assert.equal(text, 'hello from node');
  const end = events.at(-1).end;
  assert.equal(end.finishReason, 'FINISH_REASON_STOP');
  assert.equal(end.attempts[0].outcome, 'ATTEMPT_OUTCOME_SUCCESS');
});

test('GetMetrics lists the providers', async () => {
  const metrics = await client.getMetrics();
  assert.deepEqual(metrics.providers.map((p) => p.name), ['alpha', 'beta', 'gamma']);
  assert.equal(metrics.providers[0].health, 'HEALTH_STATUS_HEALTHY');
  assert.ok(Number(metrics.providers[0].requestsOk) >= 1);
});

test('errors carry the status and decoded details', async () => {
  await assert.rejects(client.generate({ prompt: 'hi', params: { temperature: 9 } }), (error) => {
    assert.ok(error instanceof OrchestratorError);
    assert.equal(error.status, 'INVALID_ARGUMENT');
    assert.equal(error.reason, 'INVALID_REQUEST');
    assert.equal(error.violations[0].field, 'params.temperature');
    return true;
  });
  await assert.rejects(client.generate({ prompt: 'hi', provider: 'beta' }), (error) => {
    assert.equal(error.status, 'UNAVAILABLE');
    assert.equal(error.reason, 'ALL_PROVIDERS_FAILED');
    assert.equal(error.attempts[0].provider, 'beta');
    assert.equal(error.attempts[0].errorCode, 'unavailable');
    return true;
  });
});

test('ListProviders and ListModels say what is on offer', async () => {
  const providers = await client.listProviders();
  assert.deepEqual(providers.providers.map((p) => p.name), ['alpha', 'beta', 'gamma']);
  assert.equal(providers.providers[0].kind, 'PROVIDER_KIND_MOCK');
  const models = await client.listModels({ providers: ['alpha'] });
  assert.deepEqual(models.models.map((m) => m.name), ['alpha/m-1']);
  assert.equal(models.models[0].isDefault, true);
  assert.deepEqual(models.aliases.map((a) => a.name), ['chat']);
  await assert.rejects(client.listModels({ providers: ['nope'] }), (error) => {
    assert.equal(error.status, 'NOT_FOUND');
    return true;
  });
});

test('retry waits out the RetryInfo of UNAVAILABLE, then tries again', async () => {
  // gamma fails; after one failure its circuit is open for 0.5 s, and the gateway answers
  // at once with UNAVAILABLE and a RetryInfo saying when the next probe is due.
  await assert.rejects(client.generate({ prompt: 'hi', provider: 'gamma' }));
  const waits = [];
  const sleep = (ms) => { waits.push(ms); return new Promise((resolve) => setTimeout(resolve, ms)); };
  const retrying = new OrchestratorClient(address, { deadlineMs: 20000, retry: { maxAttempts: 2 }, sleep });
  try {
    await assert.rejects(retrying.generate({ prompt: 'hi', provider: 'gamma' }), (error) => {
      assert.equal(error.status, 'UNAVAILABLE');
      // The second attempt reached gamma as the half-open probe (not skipped by the open
      // circuit): it came after the cooldown the RetryInfo announced.
      assert.equal(error.attempts[0].outcome, 'ATTEMPT_OUTCOME_FAILED');
      assert.equal(error.attempts[0].errorCode, 'unavailable');
      return true;
    });
  } finally {
    retrying.close();
  }
  assert.equal(waits.length, 1);
  assert.ok(waits[0] > 0 && waits[0] <= 500, `waited ${waits[0]} ms`);
  // Without the option nothing is retried: the open circuit answers at once.
  await assert.rejects(client.generate({ prompt: 'hi', provider: 'gamma' }), (error) => {
    assert.equal(error.attempts[0].errorCode, 'circuit_open');
    assert.ok(error.retryDelaySeconds > 0);
    return true;
  });
});

test('a tool round trip: the call, the result, the answer', async () => {
  const weather = tool('get_weather', {
    type: 'object', properties: { city: { type: 'string' } }, required: ['city'],
  });
  const question = { role: 'ROLE_USER', content: 'Weather in Lima?' };
  const reply = await client.generate({ messages: [question], tools: [weather] });
  assert.equal(reply.finishReason, 'FINISH_REASON_TOOL_CALL');
  const [call] = reply.toolCalls;
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(toolArguments(call), { city: 'Lima' });
  assert.deepEqual(fromStruct(call.parsedArguments), { city: 'Lima' });
  const answer = await client.generate({
    messages: [question, assistantMessage(reply), toolResult(call.id, { tempC: 19 })],
    tools: [weather],
  });
  assert.equal(answer.text, 'hello from node');
  assert.equal(answer.toolCalls.length, 0);
});

test('Embed returns one vector per input, and a schema shapes the reply', async () => {
  const reply = await client.embed({ inputs: ['a b', 'c d'], dimensions: 8 });
  assert.equal(reply.embeddings.length, 2);
  assert.equal(reply.embeddings[1].index, 1);
  assert.equal(reply.embeddings[0].values.length, 8);
  assert.equal(reply.dimensions, 8);
  await assert.rejects(
    client.generate({
      prompt: 'x',
      responseFormat: jsonSchema('city', { type: 'object', properties: { n: { type: 'integer' } } }),
    }),
    (error) => {
      // alpha's fixed reply is not JSON: a malformed reply, and no other provider is left.
      assert.equal(error.status, 'UNAVAILABLE');
      assert.equal(error.attempts[0].errorCode, 'malformed_response');
      return true;
    },
  );
});
