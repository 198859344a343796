import { InvalidRequestError, type CallKind } from './errors';

/**
 * A branch payload, as the participant will receive it in `BranchRequest.payload`:
 * - `Uint8Array` / `Buffer`: the bytes as they are (no copy);
 * - `string`: its UTF-8 bytes (not JSON-quoted);
 * - any other object (plain object, array): `JSON.stringify`, as UTF-8;
 * - `undefined`: no bytes.
 *
 * The coordinator stores these bytes and sends exactly the same ones to
 * Confirm and Cancel, so any non-bytes value is encoded once, here.
 */
export type BranchPayload = Uint8Array | string | object;

const EMPTY = Buffer.alloc(0);

/**
 * Encodes a {@link BranchPayload}. Throws {@link InvalidRequestError} for
 * values JSON cannot represent; the message never quotes the value.
 */
export function encodePayload(payload: BranchPayload | undefined, call: CallKind, gid?: string): Buffer {
  if (payload === undefined || payload === null) return EMPTY;
  if (Buffer.isBuffer(payload)) return payload;
  if (payload instanceof Uint8Array) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  // JSON.stringify(new ArrayBuffer(n)) is "{}": take the bytes instead of silently losing them.
  if (payload instanceof ArrayBuffer) return Buffer.from(payload);
  if (ArrayBuffer.isView(payload)) return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (typeof payload !== 'object') {
    throw new InvalidRequestError({ details: `payload must be bytes, a string or an object, got ${typeof payload}`, call, gid });
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (err) {
    throw new InvalidRequestError({ details: 'payload is not JSON-serializable', call, gid, cause: err });
  }
  if (json === undefined) throw new InvalidRequestError({ details: 'payload is not JSON-serializable', call, gid });
  return Buffer.from(json, 'utf8');
}
