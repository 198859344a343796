/**
 * What a Try handler may return, encoded into `BranchResponse.result`:
 * - Buffer / Uint8Array: the bytes as they are;
 * - string: its UTF-8 bytes (not JSON-quoted);
 * - undefined (or nothing: `void`): empty bytes;
 * - anything else (object, array, number, boolean, null): its JSON text in UTF-8.
 */
// `void` so that `async try() { … }` without a return value type-checks.
export type TryResultValue = Buffer | Uint8Array | string | number | boolean | null | object | undefined | void;

export const EMPTY_RESULT: Buffer = Buffer.alloc(0);

/**
 * Encodes a Try's result. Throws on a value JSON cannot represent (a BigInt,
 * a cycle, a function): called inside the barrier, so that failure rolls the
 * Try back instead of answering an error for a committed reservation.
 */
export function encodeTryResult(value: TryResultValue): Buffer {
  if (value === undefined) return EMPTY_RESULT;
  if (Buffer.isBuffer(value)) return value;
  // A view may cover only part of its ArrayBuffer: copy exactly its bytes.
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError(`a Try result of type ${typeof value} has no JSON encoding`);
  return Buffer.from(json, 'utf8');
}
