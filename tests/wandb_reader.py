"""Read the records of a W&B offline `run-*.wandb` file (for tests).

The file is a 7-byte header (":W&B", 0xBEE1, version 0) followed by a LevelDB-log stream: 32 KiB
blocks of chunks `crc32c(4) | length(2, LE) | type(1) | payload`, type FULL=1, FIRST=2, MIDDLE=3,
LAST=4. Each reassembled payload is a serialized `wandb_internal_pb2.Record`. (wandb >= 0.19 writes
it from its Go core; the python DataStore reader is gone.)
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32 * 1024
HEADER = 7


def read_records(path: str | Path) -> list[pb.Record]:
    raw = Path(path).read_bytes()
    assert raw[:4] == b":W&B", "not a .wandb file"
    records, pending, pos = [], b"", HEADER
    while pos + 7 <= len(raw):
        block_left = BLOCK - (pos % BLOCK)
        if block_left < 7:  # trailer padding of a block
            pos += block_left
            continue
        _crc, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
        if length == 0 and kind == 0:
            break
        payload = raw[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            pending = payload
        elif kind == 2:
            pending = payload
            continue
        elif kind == 3:
            pending += payload
            continue
        elif kind == 4:
            pending += payload
        r = pb.Record()
        r.ParseFromString(pending)
        records.append(r)
        pending = b""
    return records


def history_rows(records: list[pb.Record]) -> list[dict]:
    rows = []
    for r in records:
        if r.WhichOneof("record_type") == "history":
            rows.append({(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item})
    return rows


def config_values(records: list[pb.Record]) -> dict:
    out = {}
    for r in records:
        kind = r.WhichOneof("record_type")
        updates = r.config.update if kind == "config" else r.run.config.update if kind == "run" else []
        for i in updates:
            out[i.key or "/".join(i.nested_key)] = json.loads(i.value_json)
    return out


def run_info(records: list[pb.Record]):
    for r in records:
        if r.WhichOneof("record_type") == "run":
            return r.run
    return None
