import { BlockList, isIP } from 'node:net';

/** A TCC_PARTICIPANT_ALLOW entry that does not parse; the message says which and why. */
export class AllowlistSyntaxError extends Error {
  constructor(
    readonly entry: string,
    why: string,
  ) {
    super(`"${entry}": ${why}`);
    this.name = 'AllowlistSyntaxError';
  }
}

interface PortRange {
  lo: number;
  hi: number;
}

type HostRule =
  | { kind: 'any' }
  | { kind: 'name'; name: string }
  | { kind: 'suffix'; suffix: string }
  | { kind: 'ip'; list: BlockList };

interface Rule {
  host: HostRule;
  ports: PortRange;
}

const NAME = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

function parsePorts(entry: string, raw: string): PortRange {
  if (raw === '*') return { lo: 1, hi: 65535 };
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(raw);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || lo > hi) throw new AllowlistSyntaxError(entry, 'port must be a number, a range lo-hi or *');
  return { lo, hi };
}

function parseHost(entry: string, raw: string): HostRule {
  if (raw === '*') return { kind: 'any' };
  const bracketed = /^\[(.+)\]$/.exec(raw);
  const host = bracketed ? bracketed[1] : raw;
  const [addr, prefix, extra] = host.split('/');
  const family = isIP(addr);
  if (family !== 0) {
    const list = new BlockList();
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (extra !== undefined) throw new AllowlistSyntaxError(entry, 'not an address or CIDR');
    if (prefix === undefined) {
      list.addAddress(addr, type);
    } else {
      const bits = Number(prefix);
      if (!/^\d{1,3}$/.test(prefix) || bits > (family === 4 ? 32 : 128)) throw new AllowlistSyntaxError(entry, 'bad CIDR prefix length');
      list.addSubnet(addr, bits, type);
    }
    return { kind: 'ip', list };
  }
  if (bracketed || prefix !== undefined) throw new AllowlistSyntaxError(entry, 'not an address or CIDR');
  const lower = host.toLowerCase();
  if (lower.startsWith('*.')) {
    if (!NAME.test(lower.slice(2))) throw new AllowlistSyntaxError(entry, 'not a host name pattern');
    return { kind: 'suffix', suffix: lower.slice(1) };
  }
  if (!NAME.test(lower)) throw new AllowlistSyntaxError(entry, 'not a host name, address, CIDR or *.domain pattern');
  return { kind: 'name', name: lower };
}

/** The host and port a gRPC target names, or undefined when it names something else too (a DNS server). */
function splitTarget(target: string): { host: string; port: number } | undefined {
  let rest = target;
  if (rest.startsWith('dns:')) {
    // dns://resolver/host:port would make the coordinator query a DNS server of the caller's choosing.
    if (!rest.startsWith('dns:///')) return undefined;
    rest = rest.slice('dns:///'.length);
  } else if (rest.startsWith('ipv4:') || rest.startsWith('ipv6:')) {
    rest = rest.slice(5);
  }
  const i = rest.lastIndexOf(':');
  if (i <= 0) return undefined;
  const host = rest.slice(0, i).replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();
  const port = Number(rest.slice(i + 1));
  return Number.isInteger(port) ? { host, port } : undefined;
}

/**
 * Which participant targets a client may name (TCC_PARTICIPANT_ALLOW):
 * comma-separated `host:port` entries, where host is a name
 * (`inventory.prod.svc`), a `*.domain` pattern, an address, a CIDR
 * (`10.20.0.0/16`, `[fd00::/8]`) or `*`, and port a number, a range
 * `50051-50060` or `*`. Names match names and addresses match addresses:
 * nothing is resolved here, so a name entry trusts its DNS.
 */
export class ParticipantAllowlist {
  private constructor(private readonly rules: readonly Rule[]) {}

  /** Parses the setting; throws {@link AllowlistSyntaxError} on the first bad entry. */
  static parse(spec: string): ParticipantAllowlist {
    const entries = spec.split(',').map((e) => e.trim()).filter((e) => e !== '');
    if (entries.length === 0) throw new AllowlistSyntaxError(spec, 'no entries');
    return new ParticipantAllowlist(
      entries.map((entry) => {
        const i = entry.lastIndexOf(':');
        if (i <= 0 || entry.endsWith(']')) throw new AllowlistSyntaxError(entry, 'expected host:port (port may be * or lo-hi)');
        return { host: parseHost(entry, entry.slice(0, i)), ports: parsePorts(entry, entry.slice(i + 1)) };
      }),
    );
  }

  allows(target: string): boolean {
    const t = splitTarget(target);
    if (!t) return false;
    const family = isIP(t.host);
    // A name made of digits only in its last label ("127.1") is an address to the resolver: no name rule matches it.
    const numericName = family === 0 && /(^|\.)\d+$/.test(t.host);
    return this.rules.some((r) => {
      if (t.port < r.ports.lo || t.port > r.ports.hi) return false;
      switch (r.host.kind) {
        case 'any':
          return true;
        case 'ip':
          return family !== 0 && r.host.list.check(t.host, family === 4 ? 'ipv4' : 'ipv6');
        case 'name':
          return family === 0 && !numericName && t.host === r.host.name;
        case 'suffix':
          return family === 0 && !numericName && t.host.endsWith(r.host.suffix);
      }
    });
  }
}
