import { InvalidArgumentError } from './errors';

/** Longest gid, branch_id and action. Matches the columns in migrations/. */
export const MAX_ID_LENGTH = 128;
export const MAX_TARGET_LENGTH = 256;

const ID = /^[A-Za-z0-9._:-]+$/;
const ACTION = /^[\x21-\x7e]+$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;

export function validateId(field: string, value: string): string {
  if (!value) throw new InvalidArgumentError(field, 'must not be empty');
  if (value.length > MAX_ID_LENGTH) throw new InvalidArgumentError(field, `longer than ${MAX_ID_LENGTH} characters`);
  if (!ID.test(value)) throw new InvalidArgumentError(field, 'may only contain A-Z a-z 0-9 . _ : -');
  return value;
}

export function validateAction(field: string, value: string): string {
  if (!value) throw new InvalidArgumentError(field, 'must not be empty');
  if (value.length > MAX_ID_LENGTH) throw new InvalidArgumentError(field, `longer than ${MAX_ID_LENGTH} characters`);
  if (!ACTION.test(value)) throw new InvalidArgumentError(field, 'must be printable ASCII without spaces');
  return value;
}

function validHostPort(hostPort: string): boolean {
  const i = hostPort.lastIndexOf(':');
  if (i <= 0) return false;
  const host = hostPort.slice(0, i);
  const port = hostPort.slice(i + 1);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return false;
  return HOST.test(host) || IPV6.test(host);
}

/**
 * A participant must be a gRPC target the coordinator can dial: `host:port`,
 * `dns:///host:port`, `dns://resolver/host:port`, `ipv4:a.b.c.d:port` or
 * `ipv6:[::1]:port`. An explicit port keeps a missing one from silently
 * meaning 443.
 */
export function validateTarget(field: string, value: string): string {
  if (!value) throw new InvalidArgumentError(field, 'must not be empty');
  if (value.length > MAX_TARGET_LENGTH) throw new InvalidArgumentError(field, `longer than ${MAX_TARGET_LENGTH} characters`);
  let rest = value;
  const dns = /^dns:(?:\/\/[A-Za-z0-9.:[\]-]*)?\/(.*)$/.exec(value);
  if (dns) rest = dns[1];
  else if (value.startsWith('ipv4:') || value.startsWith('ipv6:')) rest = value.slice(5);
  if (!validHostPort(rest)) {
    throw new InvalidArgumentError(field, 'must be a gRPC target like host:port or dns:///host:port');
  }
  return value;
}

export function validatePayload(field: string, payload: Buffer, maxBytes: number): Buffer {
  if (payload.length > maxBytes) {
    throw new InvalidArgumentError(field, `${payload.length} bytes, over the limit of ${maxBytes}`);
  }
  return payload;
}

/** 0 means "use the default"; anything above `max` is refused rather than clamped. */
export function validateTimeout(field: string, value: number, dflt: number, max: number): number {
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError(field, 'must be a whole number of ms');
  if (value === 0) return dflt;
  if (value > max) throw new InvalidArgumentError(field, `${value} ms is over the maximum of ${max} ms`);
  return value;
}

/**
 * Free text an operator gives (a reason, their name): required, bounded, and
 * printable (no control characters: it ends up in logs and terminals).
 */
export function validateOperatorText(field: string, value: string, maxLength: number): string {
  const v = (value ?? '').trim();
  if (!v) throw new InvalidArgumentError(field, 'is required');
  if (v.length > maxLength) throw new InvalidArgumentError(field, `longer than ${maxLength} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(v)) throw new InvalidArgumentError(field, 'must not contain control characters');
  return v;
}
