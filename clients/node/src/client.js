'use strict';
// A small Node client for orchestrator.v1.OrchestratorService. It loads the .proto files the
// server is built from with @grpc/proto-loader, so nothing is generated: the package ships
// its own copy (protos/, copied in by `npm pack`); in a checkout of the repository it reads
// the repository's protos/; ORCHESTRATOR_PROTOS or the protoRoot option point elsewhere.
// Field names are camelCase, enums are names ("ROLE_USER"), int64 counters are strings.

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const SERVICE_PROTO = 'orchestrator/v1/orchestrator_service.proto';
const PROTO_ROOT = process.env.ORCHESTRATOR_PROTOS || defaultProtoRoot();
const LOADER_OPTIONS = { longs: String, enums: String, defaults: true, oneofs: true };

function defaultProtoRoot() {
  const shipped = path.resolve(__dirname, '../protos');
  if (fs.existsSync(path.join(shipped, SERVICE_PROTO))) return shipped;
  return path.resolve(__dirname, '../../../protos'); // a checkout of the repository
}

// The google.rpc details the gateway attaches to errors (google/rpc/*.proto, trimmed to the
// fields read here), so no googleapis checkout is needed.
const RPC_DETAILS = `
syntax = "proto3";
package google.rpc;
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
message RetryInfo { google.protobuf.Duration retry_delay = 1; }
message BadRequest {
  message FieldViolation { string field = 1; string description = 2; }
  repeated FieldViolation field_violations = 1;
}
`;

// Client-side retries (the `retry` option), as in the Python client's RetryPolicy: calls that
// fail UNAVAILABLE are tried again after the server's RetryInfo delay when it sent one (up to
// maxRetryInfoDelayMs; a longer one is not waited out), else after exponential backoff with
// full jitter; the call's deadline bounds all attempts and waits together. A stream is
// retried only before it delivered an event.
const RETRY_DEFAULTS = {
  maxAttempts: 3,
  initialBackoffMs: 100,
  maxBackoffMs: 2000,
  maxRetryInfoDelayMs: 10000,
  codes: [grpc.status.UNAVAILABLE],
};

function loadService(protoRoot = PROTO_ROOT) {
  const definition = protoLoader.loadSync(SERVICE_PROTO, { ...LOADER_OPTIONS, includeDirs: [protoRoot] });
  return grpc.loadPackageDefinition(definition).orchestrator.v1.OrchestratorService;
}

class OrchestratorClient {
  // address: "host:port"; options: { credentials, deadlineMs (default 60000), metadata: {k: v},
  // protoRoot, channelOptions, retry: {} or true for the defaults above, or { maxAttempts,
  // initialBackoffMs, ... } (default: no retries) }, and for a gateway with TLS and caller
  // keys: { tls: true (system roots), ca (PEM roots), cert + key (PEM client certificate and
  // key, for mTLS), serverName (the name the server's certificate carries, if not the
  // address's), apiKey (sent as `authorization: Bearer`) }. PEM values are Buffers or strings.
  constructor(address, options = {}) {
    const protoRoot = options.protoRoot || PROTO_ROOT;
    const Service = loadService(protoRoot);
    const channelOptions = { ...(options.channelOptions || {}) };
    if (options.serverName) channelOptions['grpc.ssl_target_name_override'] = options.serverName;
    this.stub = new Service(address, channelCredentials(options), channelOptions);
    this.deadlineMs = options.deadlineMs ?? 60000;
    this.metadata = { ...(options.metadata || {}) };
    if (options.apiKey) this.metadata.authorization = `Bearer ${options.apiKey}`;
    this.retry = retryPolicy(options.retry);
    this.details = detailDecoder(protoRoot);
    this._sleep = options.sleep || ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  generate(request, callOptions = {}) { return this._unary('Generate', request, callOptions); }
  // { inputs: [...], model, dimensions, inputType }: one vector per input, embeddings[i].values.
  embed(request, callOptions = {}) { return this._unary('Embed', request, callOptions); }
  validateKey(request, callOptions = {}) { return this._unary('ValidateKey', request, callOptions); }
  retrieve(request, callOptions = {}) { return this._unary('Retrieve', request, callOptions); }
  getMetrics(request = {}, callOptions = {}) { return this._unary('GetMetrics', request, callOptions); }
  // The providers serving now: kind, models, health, circuit state, weight.
  listProviders(request = {}, callOptions = {}) { return this._unary('ListProviders', request, callOptions); }
  // The models on offer, named as GenerateRequest.model takes them ("provider/model");
  // request: { providers: [...], refresh: true } to narrow or skip the gateway's cache.
  listModels(request = {}, callOptions = {}) { return this._unary('ListModels', request, callOptions); }

  // An async iterator of events ({start}, {delta}, {end}); a failure rejects with an
  // OrchestratorError, whose partialOutput says whether text had already arrived.
  async *generateStream(request, callOptions = {}) {
    const deadline = this._deadline(callOptions);
    for (let attempt = 1; ; attempt += 1) {
      const call = this.stub.GenerateStream(request, this._metadata(callOptions), deadlineOption(deadline));
      let delivered = false;
      try {
        for await (const event of call) {
          delivered = true;
          yield { [event.event]: event[event.event] };
        }
        return;
      } catch (raw) {
        const error = this._error(raw);
        const wait = delivered ? null : this._retryDelay(error, attempt, deadline);
        if (wait === null) throw error;
        await this._sleep(wait);
      } finally {
        call.cancel(); // a no-op once the call has ended; stops the upstream if the loop broke early
      }
    }
  }

  close() { this.stub.close(); }

  async _unary(method, request, callOptions) {
    const deadline = this._deadline(callOptions);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this._once(method, request, callOptions, deadline);
      } catch (error) {
        const wait = this._retryDelay(error, attempt, deadline);
        if (wait === null) throw error;
        await this._sleep(wait);
      }
    }
  }

  _once(method, request, callOptions, deadline) {
    return new Promise((resolve, reject) => {
      this.stub[method](request, this._metadata(callOptions), deadlineOption(deadline), (error, reply) => {
        if (error) reject(this._error(error)); else resolve(reply);
      });
    });
  }

  // Milliseconds to wait before attempt `attempt + 1`, or null to give up.
  _retryDelay(error, attempt, deadline) {
    const policy = this.retry;
    if (!policy || !(error instanceof OrchestratorError)) return null;
    if (attempt >= policy.maxAttempts || !policy.codes.includes(error.code)) return null;
    let wait;
    if (error.retryDelaySeconds !== undefined) {
      wait = error.retryDelaySeconds * 1000;
      if (wait > policy.maxRetryInfoDelayMs) return null;
    } else {
      wait = Math.random() * Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
    }
    if (deadline !== null && Date.now() + wait >= deadline.getTime()) return null;
    return wait;
  }

  _metadata({ metadata = {}, requestId } = {}) {
    const result = new grpc.Metadata();
    for (const [key, value] of Object.entries({ ...this.metadata, ...metadata })) result.set(key, value);
    if (requestId) result.set('x-request-id', requestId);
    return result;
  }

  _deadline({ deadlineMs } = {}) {
    const ms = deadlineMs ?? this.deadlineMs;
    return ms ? new Date(Date.now() + ms) : null;
  }

  _error(error) {
    return new OrchestratorError(error, this.details(error.metadata));
  }
}

function channelCredentials({ credentials, tls, ca, cert, key }) {
  if (credentials) return credentials;
  if (!(tls || ca || cert || key)) return grpc.credentials.createInsecure();
  if (Boolean(cert) !== Boolean(key)) throw new Error('cert and key go together (mTLS)');
  const pem = (value) => (value == null ? null : Buffer.from(value));
  return grpc.credentials.createSsl(pem(ca), pem(key), pem(cert));
}

function deadlineOption(deadline) {
  return deadline ? { deadline } : {};
}

function retryPolicy(option) {
  if (!option) return null;
  return { ...RETRY_DEFAULTS, ...(option === true ? {} : option) };
}

class OrchestratorError extends Error {
  constructor(grpcError, details) {
    super(`${grpc.status[grpcError.code]}: ${grpcError.details}`);
    this.name = 'OrchestratorError';
    this.code = grpcError.code; // a grpc.status number
    this.status = grpc.status[grpcError.code]; // e.g. "UNAVAILABLE"
    Object.assign(this, details); // reason, requestId, retryDelaySeconds, violations, attempts, partialOutput
  }
}

function detailDecoder(protoRoot) {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) =>
    (target.startsWith('google/protobuf/') ? target : path.join(protoRoot, target));
  root.loadSync(['orchestrator/v1/common.proto', 'google/protobuf/any.proto'], { keepCase: false });
  protobuf.parse(RPC_DETAILS, root, { keepCase: false });
  root.resolveAll();
  const types = {
    'google.rpc.ErrorInfo': root.lookupType('google.rpc.ErrorInfo'),
    'google.rpc.RetryInfo': root.lookupType('google.rpc.RetryInfo'),
    'google.rpc.BadRequest': root.lookupType('google.rpc.BadRequest'),
    'orchestrator.v1.AttemptTrail': root.lookupType('orchestrator.v1.AttemptTrail'),
  };
  const Status = root.lookupType('google.rpc.Status');
  const asObject = { longs: String, enums: String, defaults: true };

  return (metadata) => {
    const out = { reason: '', requestId: '', attempts: [], violations: [], partialOutput: false };
    if (!metadata) return out;
    out.partialOutput = metadata.get('orchestrator-partial-output')[0] === 'true';
    const raw = metadata.get('grpc-status-details-bin')[0];
    if (!raw) return out;
    for (const any of Status.decode(raw).details) {
      const type = types[any.type_url.split('/').pop()];
      if (!type) continue;
      const detail = type.toObject(type.decode(any.value), asObject);
      if (type.name === 'ErrorInfo') {
        out.reason = detail.reason;
        out.requestId = detail.metadata.request_id || '';
      } else if (type.name === 'RetryInfo') {
        const delay = detail.retryDelay || {};
        out.retryDelaySeconds = Number(delay.seconds || 0) + (delay.nanos || 0) / 1e9;
      } else if (type.name === 'BadRequest') {
        out.violations = detail.fieldViolations;
      } else {
        out.attempts = detail.attempts;
        out.partialOutput = out.partialOutput || detail.partialOutput;
      }
    }
    return out;
  };
}

// --- tools, structured output, images -------------------------------------------------------
// proto-loader passes google.protobuf.Struct fields as Struct messages ({fields: {...}}), not as
// plain objects: toStruct/fromStruct convert, and the helpers below use them.

function toValue(value) {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value) };
}

function toStruct(object) {
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, toValue(v)])) };
}

// Decoded Values name their set field in `kind` (the loader's oneofs option).
function fromValue(value) {
  if (!value || !value.kind || value.kind === 'nullValue') return null;
  if (value.kind === 'structValue') return fromStruct(value.structValue);
  if (value.kind === 'listValue') return (value.listValue.values || []).map(fromValue);
  return value[value.kind];
}

function fromStruct(struct) {
  return Object.fromEntries(Object.entries(struct?.fields || {}).map(([k, v]) => [k, fromValue(v)]));
}

// A tool the model may call: parameters is a JSON Schema object.
function tool(name, parameters, description = '') {
  return { name, description, parameters: parameters ? toStruct(parameters) : undefined };
}

// A call's arguments as an object (throws when the model's JSON is broken).
function toolArguments(call) {
  return JSON.parse(call.arguments || '{}');
}

function toolResult(toolCallId, content) {
  const text = typeof content === 'string' ? content : JSON.stringify(content);
  return { role: 'ROLE_TOOL', toolCallId, content: text };
}

// A reply replayed as the assistant's turn, with its tool calls.
function assistantMessage(reply) {
  return { role: 'ROLE_ASSISTANT', content: reply.text, toolCalls: reply.toolCalls };
}

function jsonSchema(name, schema, strict = false) {
  return {
    type: 'RESPONSE_FORMAT_TYPE_JSON_SCHEMA',
    jsonSchema: { name, schema: toStruct(schema), strict },
  };
}

// An image part: a Buffer (PNG, JPEG, GIF, WEBP) or an https or data: URL.
function imagePart(image, mediaType = '') {
  return Buffer.isBuffer(image)
    ? { image: { data: image, mediaType } }
    : { image: { url: image, mediaType } };
}

module.exports = {
  OrchestratorClient,
  OrchestratorError,
  loadService,
  grpc,
  PROTO_ROOT,
  toStruct,
  fromStruct,
  tool,
  toolArguments,
  toolResult,
  assistantMessage,
  jsonSchema,
  imagePart,
};
