'use strict';
// Runs against a live server at ORCHESTRATOR_ADDRESS (tests/e2e/test_node_client.py starts
// one with a mock provider "alpha" replying "hello from node").
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
  assert.deepEqual(metrics.providers.map((p) => p.name), ['alpha', 'beta']);
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
