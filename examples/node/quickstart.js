#!/usr/bin/env node
// Calls tl-gateway from Node.js: creates an indexing task from a video URL,
// watches it until it is ready, lists the index's tasks, and reads the error
// details of failed calls; then the asset path (API v1.3): creates an asset,
// indexes it (IndexAsset waits for the asset to be ready) and watches the
// indexed asset until it is ready; then uploads a local file and indexes it in
// one call (UploadAndIndex) and watches that indexed asset too.
//
//     node quickstart.js [INDEX_ID]
//
// INDEX_ID defaults to the simulator's seeded index. Environment:
//   TLGW_ADDR        gateway address (default 127.0.0.1:50051)
//   TLGW_TOKEN       this service's bearer token, if the gateway has clients configured
//   TLGW_VIDEO_URL   video to index (default a made-up URL the simulator accepts)
//   TLGW_PROTO_DIR   the contract's proto/ folder (default ../../proto from here)
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const { promisify } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const ADDR = process.env.TLGW_ADDR || '127.0.0.1:50051';
const VIDEO_URL = process.env.TLGW_VIDEO_URL || 'https://videos.example.com/tl-gateway/demo.mp4';
const PROTO_DIR = process.env.TLGW_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');
const SEED_INDEX_ID = '0123456789abcdef01234567';

// Sent with every call; a gateway with no clients configured needs none.
const auth = new grpc.Metadata();
if (process.env.TLGW_TOKEN) auth.set('authorization', `Bearer ${process.env.TLGW_TOKEN}`);

// The contract, loaded at run time (no code generation). Fields are
// lowerCamelCase, enums are their names, int64s are strings.
const definition = protoLoader.loadSync(
  ['twelvelabs/gateway/v1/upload_service.proto', 'twelvelabs/gateway/v1/task_service.proto',
    'twelvelabs/gateway/v1/asset_service.proto'],
  { includeDirs: [PROTO_DIR], longs: String, enums: String, defaults: true, oneofs: true },
);
const v1 = grpc.loadPackageDefinition(definition).twelvelabs.gateway.v1;

// google.rpc.Status and the error details, for decoding the
// `grpc-status-details-bin` trailer of a failed call (field names as in
// the .proto files).
const rpcTypes = new protobuf.Root().loadSync(
  ['google/rpc/status.proto', 'google/rpc/error_details.proto'].map((f) => path.join(PROTO_DIR, f)),
  { keepCase: true },
);
const Status = rpcTypes.lookupType('google.rpc.Status');

function printError(what, err) {
  console.log(`${what} failed: ${grpc.status[err.code]}: ${err.details}`);
  const [raw] = err.metadata ? err.metadata.get('grpc-status-details-bin') : [];
  if (!raw) return;
  for (const any of Status.decode(raw).details) {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = rpcTypes.lookupType(typeName);
    const detail = type.toObject(type.decode(any.value), { longs: Number, defaults: true });
    switch (typeName) {
      case 'google.rpc.ErrorInfo':
        console.log(`  ErrorInfo: reason=${detail.reason} domain=${detail.domain} ` +
                    `metadata=${JSON.stringify(detail.metadata)}`);
        break;
      case 'google.rpc.RetryInfo': {
        const { seconds = 0, nanos = 0 } = detail.retry_delay || {};
        console.log(`  RetryInfo: retry after ${seconds + nanos / 1e9} s`);
        break;
      }
      case 'google.rpc.BadRequest':
        for (const v of detail.field_violations) {
          console.log(`  BadRequest: ${v.field}: ${v.description}`);
        }
        break;
      default:
        console.log(`  other detail: ${any.type_url}`);
    }
  }
}

const deadline = (seconds) => ({ deadline: Date.now() + seconds * 1000 });

// Streams a task's changes until it is ready or failed; reconnects
// (resumeAfter = the last sequence seen) if the gateway goes away.
async function watchUntilDone(tasks, taskId, timeoutSeconds = 600) {
  const end = Date.now() + timeoutSeconds * 1000;
  let lastSequence = '0';
  let task = null;
  for (;;) {
    const stream = tasks.WatchTask({ taskId, resumeAfter: lastSequence }, auth, { deadline: end });
    try {
      for await (const event of stream) {
        lastSequence = event.sequence;
        task = event.task;
        console.log(`  ${task.status} (${task.statusText})`);
      }
      return task; // the stream ends with OK after the terminal event
    } catch (err) {
      if (err.code !== grpc.status.UNAVAILABLE || Date.now() > end - 1000) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

// As watchUntilDone, for an indexed asset.
async function watchIndexedAsset(assets, indexId, indexedAssetId, timeoutSeconds = 600) {
  const end = Date.now() + timeoutSeconds * 1000;
  let lastSequence = '0';
  let indexed = null;
  for (;;) {
    const stream = assets.WatchIndexedAsset({ indexId, indexedAssetId, resumeAfter: lastSequence }, auth,
      { deadline: end });
    try {
      for await (const event of stream) {
        lastSequence = event.sequence;
        indexed = event.indexedAsset;
        console.log(`  ${indexed.status} (${indexed.statusText})`);
      }
      return indexed; // the stream ends with OK after the terminal event
    } catch (err) {
      if (err.code !== grpc.status.UNAVAILABLE || Date.now() > end - 1000) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

// The asset path: CreateAsset, IndexAsset, WatchIndexedAsset; UploadAndIndex.
async function runAssets(indexId, credentials) {
  const assets = new v1.AssetService(ADDR, credentials);
  const createAsset = promisify(assets.CreateAsset.bind(assets));
  const indexAsset = promisify(assets.IndexAsset.bind(assets));

  // 5. Create an asset from a URL. It starts `processing`; requestId makes
  // the call safe to retry (a repeat returns the same asset).
  const asset = await createAsset({
    url: VIDEO_URL,
    userMetadata: { fields: { source: { stringValue: 'node-example' } } },
    requestId: crypto.randomUUID(),
  }, auth, deadline(30));
  console.log(`created asset ${asset.id}: ${asset.statusText}`);

  // 6. Index it. IndexAsset waits (within the deadline) for the asset to be
  // ready, on the gateway's shared watch: no polling here.
  let indexed = await indexAsset({ indexId, assetId: asset.id, requestId: crypto.randomUUID() }, auth,
    deadline(120));
  console.log(`indexed asset ${indexed.id} of asset ${indexed.assetId} in index ${indexed.indexId}: ` +
              `${indexed.statusText}`);

  // 7. Watch the indexed asset until it is ready (or failed).
  indexed = await watchIndexedAsset(assets, indexId, indexed.id);
  console.log(`indexed asset ${indexed.id} is ${indexed.status}`);

  // 8. A local file in one call: UploadAndIndex streams a header, then the
  // bytes (at most 4 MiB a message), waits for the asset to be ready and
  // indexes it. Then WatchIndexedAsset follows the indexed asset to ready.
  const data = crypto.randomBytes(256 * 1024);  // stands in for a video file's bytes
  let uploaded = await new Promise((resolve, reject) => {
    const call = assets.UploadAndIndex(auth, deadline(120), (err, reply) => (err ? reject(err) : resolve(reply)));
    call.write({
      header: {
        upload: { filename: 'example.mp4', type: 'ASSET_TYPE_VIDEO', sizeBytes: String(data.length) },
        indexId,
      },
    });
    const piece = 64 * 1024;
    for (let at = 0; at < data.length; at += piece) call.write({ chunk: data.subarray(at, at + piece) });
    call.end();
  });
  console.log(`uploaded and indexed asset ${uploaded.id} of asset ${uploaded.assetId} in index ` +
              `${uploaded.indexId}: ${uploaded.statusText}`);
  uploaded = await watchIndexedAsset(assets, indexId, uploaded.id);
  console.log(`uploaded indexed asset ${uploaded.id} is ${uploaded.status}`);
  assets.close();
}

async function main() {
  const indexId = process.argv[2] || SEED_INDEX_ID;
  const credentials = grpc.credentials.createInsecure();
  const uploads = new v1.UploadService(ADDR, credentials);
  const tasks = new v1.TaskService(ADDR, credentials);
  const createUrlTask = promisify(uploads.CreateUrlTask.bind(uploads));
  const listTasks = promisify(tasks.ListTasks.bind(tasks));
  const getTask = promisify(tasks.GetTask.bind(tasks));

  // 1. Create a task. requestId makes the call safe to retry.
  let task = await createUrlTask({
    indexId,
    videoUrl: VIDEO_URL,
    userMetadata: { fields: { source: { stringValue: 'node-example' } } },
    requestId: crypto.randomUUID(),
  }, auth, deadline(30));
  console.log(`created task ${task.id} in index ${task.indexId}: ${task.statusText}`);

  // 2. Watch it until it is ready (or failed).
  task = await watchUntilDone(tasks, task.id);
  console.log(`task ${task.id} is ${task.statusText}`);

  // 3. List the index's newest tasks.
  const page = await listTasks({ indexId, pageSize: 5 }, auth, deadline(30));
  console.log(`listed ${page.tasks.length} of ${page.totalSize} tasks in index ${indexId}:`);
  for (const t of page.tasks) {
    console.log(`  ${t.id} ${t.status} ${t.systemMetadata?.filename ?? ''}`);
  }

  // 4. Failed calls carry google.rpc details: a malformed id (BadRequest)
  // and an id no task has (NOT_FOUND, ErrorInfo from upstream).
  for (const taskId of ['not-a-task-id', 'ffffffffffffffffffffffff']) {
    try {
      await getTask({ taskId }, auth, deadline(30));
    } catch (err) {
      printError(`GetTask('${taskId}')`, err);
    }
  }
  uploads.close();
  tasks.close();

  await runAssets(indexId, credentials);
}

main().catch((err) => {
  if (typeof err.code !== 'number') throw err;
  printError('a call', err);
  process.exit(1);
});
