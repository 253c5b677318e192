'use strict';
/*
 * Writes a "skeleton" of an ONNX file next to it: the same protobuf, byte for byte, except that each large
 * graph initializer's raw_data is replaced by an external-data reference (location, offset, length) to
 * where those bytes sit in the original file. onnxruntime then maps the weights from the file (already
 * in the page cache: it was just written) instead of parsing them into one copy and unpacking them into
 * another, which is most of the load time and memory of a large model (a 210 MB embedder: 0.15-0.2 s and
 * 286 MB peak RSS instead of 5.5-6 s and 490 MB, at load 10). The tensors are the same bytes; onnxruntime
 * still checks each one's length against its type and dims.
 *
 * Only the header of each field is read from disk, plus every field that is copied (all but the large
 * raw_data). Anything unusual (a protobuf group, a tensor that already names external data or holds
 * typed data next to raw_data, a truncated file) makes it give up; the caller then loads the original
 * file, so the refusals are onnxruntime's own.
 */
const fs = require('node:fs');
const path = require('node:path');

/** Initializers smaller than this stay inline: copying them costs nothing worth avoiding. */
const MIN_EXTERNAL_BYTES = 64 * 1024;
/** ModelProto.graph, GraphProto.initializer, and the TensorProto fields read here (onnx.proto). */
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_DATA_TYPE = 2;
const TENSOR_RAW_DATA = 9;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
/** float_data, int32_data, string_data, int64_data, double_data, uint64_data. */
const TENSOR_TYPED_DATA = new Set([4, 5, 6, 7, 10, 11]);
/** TensorProto.DataType UNDEFINED and STRING: never raw bytes of a fixed width. */
const NOT_RAW_TYPES = new Set([0, 8]);
const DATA_LOCATION_EXTERNAL = 1;

class GiveUp extends Error {}

let written = 0;

/** Positioned reads of one open file. */
class FileReader {
  constructor(fd, size) {
    this.fd = fd;
    this.size = size;
  }

  read(pos, length) {
    if (pos < 0 || length < 0 || pos + length > this.size) throw new GiveUp('truncated');
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, pos + done);
      if (n === 0) throw new GiveUp('truncated');
      done += n;
    }
    return buf;
  }

  /** A varint at `pos`: [value, position after it]. */
  varint(pos) {
    const head = this.read(pos, Math.min(10, this.size - pos));
    let value = 0;
    let scale = 1;
    for (let i = 0; i < head.length; i++) {
      const b = head[i];
      value += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) {
        if (value > Number.MAX_SAFE_INTEGER) throw new GiveUp('varint too large');
        return [value, pos + i + 1];
      }
    }
    throw new GiveUp('bad varint');
  }

  /** The fields of the message in [start, end): tag, wire type, where the field and its value lie. */
  fields(start, end) {
    const list = [];
    let pos = start;
    while (pos < end) {
      const tagStart = pos;
      const [tag, afterTag] = this.varint(pos);
      const field = Math.floor(tag / 8);
      const wire = tag % 8;
      let valueStart = afterTag;
      let valueEnd;
      if (wire === 0) valueEnd = this.varint(afterTag)[1];
      else if (wire === 1) valueEnd = afterTag + 8;
      else if (wire === 5) valueEnd = afterTag + 4;
      else if (wire === 2) {
        const [length, afterLength] = this.varint(afterTag);
        valueStart = afterLength;
        valueEnd = afterLength + length;
      } else throw new GiveUp(`wire type ${wire}`);
      if (field === 0 || valueEnd > end) throw new GiveUp('malformed field');
      list.push({ field, wire, tagStart, valueStart, valueEnd });
      pos = valueEnd;
    }
    return list;
  }

  copy(f) {
    return this.read(f.tagStart, f.valueEnd - f.tagStart);
  }
}

function varintBytes(value) {
  const out = [];
  while (value >= 128) {
    out.push((value % 128) | 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

function lengthDelimited(field, payload) {
  return Buffer.concat([varintBytes(field * 8 + 2), varintBytes(payload.length), payload]);
}

function externalEntry(key, value) {
  // StringStringEntryProto: key = 1, value = 2
  return lengthDelimited(TENSOR_EXTERNAL_DATA, Buffer.concat([lengthDelimited(1, Buffer.from(key)), lengthDelimited(2, Buffer.from(value))]));
}

/** One initializer: its raw_data made external when large, else copied as it is. */
function tensor(reader, f, location, counts) {
  const fields = reader.fields(f.valueStart, f.valueEnd);
  const raw = fields.filter((t) => t.field === TENSOR_RAW_DATA);
  const dataType = fields.find((t) => t.field === TENSOR_DATA_TYPE && t.wire === 0);
  const plain =
    raw.length === 1 &&
    raw[0].wire === 2 &&
    raw[0].valueEnd - raw[0].valueStart >= MIN_EXTERNAL_BYTES &&
    dataType !== undefined &&
    !NOT_RAW_TYPES.has(reader.varint(dataType.valueStart)[0]) &&
    !fields.some((t) => t.field === TENSOR_EXTERNAL_DATA || t.field === TENSOR_DATA_LOCATION || TENSOR_TYPED_DATA.has(t.field));
  if (!plain) return reader.copy(f);
  const parts = fields.filter((t) => t !== raw[0]).map((t) => reader.copy(t));
  parts.push(
    externalEntry('location', location),
    externalEntry('offset', String(raw[0].valueStart)),
    externalEntry('length', String(raw[0].valueEnd - raw[0].valueStart)),
    varintBytes(TENSOR_DATA_LOCATION * 8),
    varintBytes(DATA_LOCATION_EXTERNAL),
  );
  counts.tensors++;
  counts.bytes += raw[0].valueEnd - raw[0].valueStart;
  return lengthDelimited(GRAPH_INITIALIZER, Buffer.concat(parts));
}

function graph(reader, f, location, counts) {
  const parts = reader
    .fields(f.valueStart, f.valueEnd)
    .map((g) => (g.field === GRAPH_INITIALIZER && g.wire === 2 ? tensor(reader, g, location, counts) : reader.copy(g)));
  return lengthDelimited(MODEL_GRAPH, Buffer.concat(parts));
}

/**
 * Writes `<file>.<pid>-<n>.skeleton.onnx` beside `file` when it has at least one large initializer; returns its path
 * and what was made external, or null when there is nothing to gain or the file is not plain enough.
 */
function writeSkeleton(file) {
  const location = path.basename(file);
  // onnxruntime refuses external-data locations that leave the model's folder or look like options
  if (!/^[\w.-]+$/.test(location)) return null;
  const fd = fs.openSync(file, 'r');
  try {
    const reader = new FileReader(fd, fs.fstatSync(fd).size);
    const counts = { tensors: 0, bytes: 0 };
    const parts = reader.fields(0, reader.size).map((m) => (m.field === MODEL_GRAPH && m.wire === 2 ? graph(reader, m, location, counts) : reader.copy(m)));
    if (counts.tensors === 0) return null;
    const skeleton = `${file}.${process.pid}-${++written}.skeleton.onnx`;
    fs.writeFileSync(skeleton, Buffer.concat(parts), { flag: 'wx' });
    return { path: skeleton, tensors: counts.tensors, bytes: counts.bytes };
  } catch (err) {
    if (err instanceof GiveUp) return null;
    throw err;
  } finally {
    fs.closeSync(fd);
  }
}

module.exports = { writeSkeleton };
