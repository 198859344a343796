import { isUtf8 } from 'node:buffer';
import { Enum, MapField, type Field, type Type } from 'protobufjs';

/**
 * Why a request's bytes are not a well-formed message of its type, or
 * undefined when they are. protobufjs decodes leniently: a string whose
 * length runs past the end is cut short (a 65 535-byte gid with 3 bytes
 * present decodes as a 3-byte gid), a field sent with the wrong wire type
 * decodes as its default, invalid UTF-8 becomes U+FFFD (a different id than
 * the caller sent). Every one of those would act on something the caller
 * never asked for, so the bytes are walked strictly before decoding.
 */
export function wireProblem(buf: Uint8Array, type: Type): string | undefined {
  try {
    walkMessage(buf, 0, buf.length, type, 0);
    return undefined;
  } catch (err) {
    if (err instanceof WireError) return err.message;
    throw err;
  }
}

class WireError extends Error {}

/** Nesting deeper than any message of ours (or of health and reflection) needs. */
const MAX_DEPTH = 32;

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** The wire type each scalar is encoded with. */
const SCALAR_WIRE: Readonly<Record<string, number>> = {
  int32: VARINT,
  uint32: VARINT,
  sint32: VARINT,
  int64: VARINT,
  uint64: VARINT,
  sint64: VARINT,
  bool: VARINT,
  fixed64: FIXED64,
  sfixed64: FIXED64,
  double: FIXED64,
  fixed32: FIXED32,
  sfixed32: FIXED32,
  float: FIXED32,
  string: LENGTH_DELIMITED,
  bytes: LENGTH_DELIMITED,
};

/** A varint as a number, refusing one that runs past `end` or over 10 bytes (the longest a 64-bit value takes). */
function readVarint(buf: Uint8Array, pos: number, end: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new WireError('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) {
      if (i === 9 && b > 1) throw new WireError('varint over 64 bits');
      return [value, pos];
    }
  }
  throw new WireError('varint over 10 bytes');
}

/** Where the value of a field with this wire type ends (its contents start at `pos`, or after the length prefix). */
function skipValue(buf: Uint8Array, pos: number, end: number, wireType: number): [start: number, next: number] {
  switch (wireType) {
    case VARINT:
      return [pos, readVarint(buf, pos, end)[1]];
    case FIXED64:
      if (pos + 8 > end) throw new WireError('truncated fixed64');
      return [pos, pos + 8];
    case FIXED32:
      if (pos + 4 > end) throw new WireError('truncated fixed32');
      return [pos, pos + 4];
    case LENGTH_DELIMITED: {
      const [len, start] = readVarint(buf, pos, end);
      if (len > end - start) throw new WireError('length past the end of the message');
      return [start, start + len];
    }
    default:
      // 3/4 are proto2 groups (none of our messages has one), 6/7 do not exist.
      throw new WireError(`wire type ${wireType} not accepted`);
  }
}

function walkMessage(buf: Uint8Array, pos: number, end: number, type: Type | undefined, depth: number): void {
  if (depth > MAX_DEPTH) throw new WireError('nested too deep');
  while (pos < end) {
    const [tag, afterTag] = readVarint(buf, pos, end);
    const fieldNo = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (fieldNo < 1 || fieldNo > 0x1fffffff) throw new WireError('invalid field number');
    const [start, next] = skipValue(buf, afterTag, end, wireType);
    const field = type?.fieldsById[fieldNo];
    if (field) checkField(buf, start, next, wireType, field, depth);
    pos = next;
  }
}

/** A known field: its wire type must be the one its type is encoded with, and its contents well formed. */
function checkField(buf: Uint8Array, start: number, end: number, wireType: number, field: Field, depth: number): void {
  const name = field.name;
  if (field instanceof MapField) {
    // A map entry is an embedded message of key = 1, value = 2: walked for its framing only.
    if (wireType !== LENGTH_DELIMITED) throw new WireError(`${name}: wrong wire type`);
    walkMessage(buf, start, end, undefined, depth + 1);
    return;
  }
  const resolved = field.resolvedType;
  if (resolved && !(resolved instanceof Enum)) {
    if (wireType !== LENGTH_DELIMITED) throw new WireError(`${name}: wrong wire type`);
    walkMessage(buf, start, end, resolved, depth + 1);
    return;
  }
  const expected = resolved instanceof Enum ? VARINT : SCALAR_WIRE[field.type];
  if (expected === undefined) return; // not a type we know: framing was checked above
  if (wireType === expected) {
    if (field.type === 'string' && !isUtf8(buf.subarray(start, end))) throw new WireError(`${name}: invalid UTF-8`);
    return;
  }
  if (field.repeated && wireType === LENGTH_DELIMITED && expected !== LENGTH_DELIMITED) {
    // A packed list: values back to back, the last ending exactly at the end.
    for (let p = start; p < end; ) p = skipValue(buf, p, end, expected)[1];
    return;
  }
  throw new WireError(`${name}: wrong wire type`);
}
