#!/usr/bin/env python3
"""Calls tl-gateway from Python: creates an indexing task from a video URL,
watches it until it is ready, lists the index's tasks, and reads the error
details of failed calls; then the asset path (API v1.3): creates an asset,
indexes it (IndexAsset waits for the asset to be ready) and watches the
indexed asset until it is ready; then uploads a local file and indexes it
in one call (UploadAndIndex) and watches that indexed asset too.

    python3 quickstart.py [INDEX_ID]

INDEX_ID defaults to the simulator's seeded index. Environment:
  TLGW_ADDR        gateway address (default 127.0.0.1:50051)
  TLGW_TOKEN       this service's bearer token, if the gateway has clients configured
  TLGW_VIDEO_URL   video to index (default a made-up URL the simulator accepts)
  TLGW_PROTO_DIR   the contract's proto/ folder (default ../../proto from here)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import grpc

ADDR = os.environ.get("TLGW_ADDR", "127.0.0.1:50051")
VIDEO_URL = os.environ.get("TLGW_VIDEO_URL", "https://videos.example.com/tl-gateway/demo.mp4")
PROTO_DIR = os.environ.get("TLGW_PROTO_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
SEED_INDEX_ID = "0123456789abcdef01234567"
TOKEN = os.environ.get("TLGW_TOKEN")
# Sent with every call; a gateway with no clients configured needs none.
AUTH = [("authorization", f"Bearer {TOKEN}")] if TOKEN else []


def protoc_command():
    """grpc_tools' protoc if it knows proto3 `optional` (grpcio-tools >= 1.32,
    as pip installs it); else the system protoc with gRPC's Python plugin
    (Debian 12's python3-grpc-tools bundles protoc 3.5, which is too old)."""
    grpc_tools = [sys.executable, "-m", "grpc_tools.protoc"]
    try:
        version = subprocess.run(grpc_tools + ["--version"], capture_output=True, text=True).stdout
    except OSError:
        version = ""
    found = re.search(r"(\d+)\.(\d+)", version)
    if found and (int(found[1]), int(found[2])) >= (3, 15):
        return grpc_tools
    plugin = shutil.which("grpc_python_plugin")
    if shutil.which("protoc") and plugin:
        return ["protoc", f"--plugin=protoc-gen-grpc_python={plugin}"]
    sys.exit("no protoc: pip install grpcio-tools, or apt-get install protobuf-compiler-grpc")


def generate_stubs(out_dir):
    """Compiles the contract into Python modules under out_dir and imports from there."""
    protos = [os.path.join(d, f) for d in ("twelvelabs/gateway/v1", "google/rpc")
              for f in sorted(os.listdir(os.path.join(PROTO_DIR, d))) if f.endswith(".proto")]
    subprocess.run(protoc_command() + [f"-I{PROTO_DIR}", f"--python_out={out_dir}",
                                       f"--grpc_python_out={out_dir}"] + protos,
                   check=True)
    sys.path.insert(0, out_dir)


def print_error(what, err):
    """Prints a failed call's status and the google.rpc details the gateway
    attaches to every error (the `grpc-status-details-bin` trailer)."""
    from google.rpc import error_details_pb2, status_pb2

    print(f"{what} failed: {err.code().name}: {err.details()}")
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if raw is None:
        return
    for detail in status_pb2.Status.FromString(raw).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            print(f"  ErrorInfo: reason={info.reason} domain={info.domain}"
                  f" metadata={dict(info.metadata)}")
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            print(f"  RetryInfo: retry after {retry.retry_delay.ToTimedelta().total_seconds()} s")
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            for v in bad.field_violations:
                print(f"  BadRequest: {v.field}: {v.description}")
        else:
            print(f"  other detail: {detail.type_url}")


def watch_until_done(tasks, task_id, timeout_seconds=600):
    """Streams a task's changes until it is ready or failed; reconnects
    (resume_after = the last sequence seen) if the gateway goes away."""
    from twelvelabs.gateway.v1 import task_pb2, task_service_pb2

    deadline = time.monotonic() + timeout_seconds
    last_sequence, task = 0, None
    while True:
        request = task_service_pb2.WatchTaskRequest(task_id=task_id, resume_after=last_sequence)
        try:
            stream = tasks.WatchTask(request, timeout=deadline - time.monotonic(), metadata=AUTH)
            for event in stream:
                last_sequence, task = event.sequence, event.task
                print(f"  {task_pb2.TaskStatus.Name(task.status)} ({task.status_text})")
            return task  # the stream ends with OK after the terminal event
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline - 1:
                raise
            time.sleep(1)


def watch_indexed_asset(assets, index_id, indexed_asset_id, timeout_seconds=600):
    """Streams an indexed asset's changes until it is ready or failed;
    reconnects (resume_after = the last sequence seen) if the gateway goes away."""
    from twelvelabs.gateway.v1 import asset_pb2, asset_service_pb2

    deadline = time.monotonic() + timeout_seconds
    last_sequence, indexed = 0, None
    while True:
        request = asset_service_pb2.WatchIndexedAssetRequest(
            index_id=index_id, indexed_asset_id=indexed_asset_id, resume_after=last_sequence)
        try:
            for event in assets.WatchIndexedAsset(request, timeout=deadline - time.monotonic(),
                                                  metadata=AUTH):
                last_sequence, indexed = event.sequence, event.indexed_asset
                print(f"  {asset_pb2.IndexedAssetStatus.Name(indexed.status)} ({indexed.status_text})")
            return indexed  # the stream ends with OK after the terminal event
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline - 1:
                raise
            time.sleep(1)


def run_assets(channel, index_id):
    """The asset path: CreateAsset, IndexAsset, WatchIndexedAsset; UploadAndIndex."""
    from google.protobuf import struct_pb2
    from twelvelabs.gateway.v1 import asset_pb2, asset_service_pb2, asset_service_pb2_grpc

    assets = asset_service_pb2_grpc.AssetServiceStub(channel)
    metadata = struct_pb2.Struct()
    metadata.update({"source": "python-example"})
    # 5. Create an asset from a URL. It starts `processing`; request_id makes
    # the call safe to retry (a repeat returns the same asset).
    asset = assets.CreateAsset(
        asset_pb2.CreateAssetRequest(url=VIDEO_URL, user_metadata=metadata,
                                     request_id=str(uuid.uuid4())),
        timeout=30, metadata=AUTH)
    print(f"created asset {asset.id}: {asset.status_text}")

    # 6. Index it. IndexAsset waits (within the deadline) for the asset to be
    # ready, on the gateway's shared watch: no polling here.
    indexed = assets.IndexAsset(
        asset_pb2.IndexAssetRequest(index_id=index_id, asset_id=asset.id,
                                    request_id=str(uuid.uuid4())),
        timeout=120, metadata=AUTH)
    print(f"indexed asset {indexed.id} of asset {indexed.asset_id} in index {indexed.index_id}: "
          f"{indexed.status_text}")

    # 7. Watch the indexed asset until it is ready (or failed).
    indexed = watch_indexed_asset(assets, index_id, indexed.id)
    print(f"indexed asset {indexed.id} is {asset_pb2.IndexedAssetStatus.Name(indexed.status)}")

    # 8. A local file in one call: UploadAndIndex streams a header, then the
    # bytes (at most 4 MiB a message), waits for the asset to be ready and
    # indexes it. Then WatchIndexedAsset follows the indexed asset to ready.
    data = os.urandom(256 * 1024)  # stands in for a video file's bytes
    piece = 64 * 1024

    def messages():
        yield asset_service_pb2.UploadAndIndexRequest(header=asset_service_pb2.UploadAndIndexHeader(
            upload=asset_service_pb2.UploadAssetHeader(
                filename="example.mp4", type=asset_pb2.ASSET_TYPE_VIDEO, size_bytes=len(data)),
            index_id=index_id))
        for at in range(0, len(data), piece):
            yield asset_service_pb2.UploadAndIndexRequest(chunk=data[at:at + piece])

    uploaded = assets.UploadAndIndex(messages(), timeout=120, metadata=AUTH)
    print(f"uploaded and indexed asset {uploaded.id} of asset {uploaded.asset_id} in index "
          f"{uploaded.index_id}: {uploaded.status_text}")
    uploaded = watch_indexed_asset(assets, index_id, uploaded.id)
    print(f"uploaded indexed asset {uploaded.id} is "
          f"{asset_pb2.IndexedAssetStatus.Name(uploaded.status)}")


def run(index_id):
    # Imported here: generate_stubs() has just made these modules.
    from google.protobuf import struct_pb2
    from twelvelabs.gateway.v1 import (task_pb2, task_service_pb2, task_service_pb2_grpc,
                                       upload_service_pb2, upload_service_pb2_grpc)

    with grpc.insecure_channel(ADDR) as channel:
        uploads = upload_service_pb2_grpc.UploadServiceStub(channel)
        tasks = task_service_pb2_grpc.TaskServiceStub(channel)

        # 1. Create a task. request_id makes the call safe to retry.
        metadata = struct_pb2.Struct()
        metadata.update({"source": "python-example"})
        task = uploads.CreateUrlTask(
            upload_service_pb2.CreateUrlTaskRequest(
                index_id=index_id, video_url=VIDEO_URL, user_metadata=metadata,
                request_id=str(uuid.uuid4())),
            timeout=30, metadata=AUTH)
        print(f"created task {task.id} in index {task.index_id}: {task.status_text}")

        # 2. Watch it until it is ready (or failed).
        task = watch_until_done(tasks, task.id)
        print(f"task {task.id} is {task.status_text}")

        # 3. List the index's newest tasks.
        page = tasks.ListTasks(task_service_pb2.ListTasksRequest(index_id=index_id, page_size=5),
                               timeout=30, metadata=AUTH)
        print(f"listed {len(page.tasks)} of {page.total_size} tasks in index {index_id}:")
        for t in page.tasks:
            print(f"  {t.id} {task_pb2.TaskStatus.Name(t.status)} {t.system_metadata.filename}")

        # 4. Failed calls carry google.rpc details: a malformed id (BadRequest)
        # and an id no task has (NOT_FOUND, ErrorInfo from upstream).
        for task_id in ("not-a-task-id", "ffffffffffffffffffffffff"):
            try:
                tasks.GetTask(task_service_pb2.GetTaskRequest(task_id=task_id), timeout=30,
                              metadata=AUTH)
            except grpc.RpcError as err:
                print_error(f"GetTask({task_id!r})", err)

        run_assets(channel, index_id)


def main():
    index_id = sys.argv[1] if len(sys.argv) > 1 else SEED_INDEX_ID
    with tempfile.TemporaryDirectory(prefix="tlgw-stubs-") as stubs:
        generate_stubs(stubs)
        try:
            run(index_id)
        except grpc.RpcError as err:
            print_error("a call", err)
            sys.exit(1)


if __name__ == "__main__":
    main()
