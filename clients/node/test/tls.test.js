'use strict';
// Runs against a live server with TLS at ORCHESTRATOR_ADDRESS (tests/e2e/test_tls_clients.py
// starts one): ORCHESTRATOR_CA is the CA file to trust, ORCHESTRATOR_CERT and ORCHESTRATOR_KEY
// a client certificate (set when the server asks for one: mTLS), ORCHESTRATOR_API_KEY the
// caller key.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { OrchestratorClient } = require('../src/client');

const env = process.env;
const address = env.ORCHESTRATOR_ADDRESS;
if (!address) throw new Error('set ORCHESTRATOR_ADDRESS to a running server');
const ca = fs.readFileSync(env.ORCHESTRATOR_CA);
const mutual = Boolean(env.ORCHESTRATOR_CERT);
const identity = mutual
  ? { cert: fs.readFileSync(env.ORCHESTRATOR_CERT), key: fs.readFileSync(env.ORCHESTRATOR_KEY) }
  : {};

test('Generate over TLS with the caller key', async () => {
  const client = new OrchestratorClient(address, {
    ca, ...identity, apiKey: env.ORCHESTRATOR_API_KEY, deadlineMs: 20000,
  });
  try {
    const reply = await client.generate({ prompt: 'hi' });
    assert.equal(reply.text, 'hello over tls');
  } finally {
    client.close();
  }
});

test('the caller key is required', async () => {
  const client = new OrchestratorClient(address, { ca, ...identity, deadlineMs: 20000 });
  try {
    await assert.rejects(client.generate({ prompt: 'hi' }), (error) => {
      assert.equal(error.status, 'UNAUTHENTICATED');
      assert.equal(error.reason, 'API_KEY_MISSING');
      return true;
    });
  } finally {
    client.close();
  }
});

test('plaintext, or TLS without the client certificate under mTLS, is refused', async () => {
  const attempts = [{ deadlineMs: 5000 }];
  if (mutual) attempts.push({ ca, deadlineMs: 5000 });
  for (const options of attempts) {
    const client = new OrchestratorClient(address, { ...options, apiKey: env.ORCHESTRATOR_API_KEY });
    try {
      await assert.rejects(client.generate({ prompt: 'hi' }), (error) => {
        assert.equal(error.status, 'UNAVAILABLE');
        return true;
      });
    } finally {
      client.close();
    }
  }
});
