/** tccctl's command line → a validated command and its settings. */
import { parseArgs } from 'node:util';
import { parseDuration } from './durations';
import { UsageError } from './tccctl-exit-codes';
import { resolveSettings, type TccctlEnvironment, type TccctlSettings } from './tccctl-settings';

export const COMMAND_NAMES = ['list', 'show', 'retry', 'abort', 'resolve'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export const STATUSES = ['TRYING', 'CONFIRMING', 'CONFIRMED', 'CANCELLING', 'CANCELLED'] as const;
export type StatusName = (typeof STATUSES)[number];

/** ListTransactions' own bounds (0 there means 50). */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export type TccctlCommand =
  | {
      name: 'list';
      statuses: StatusName[];
      stuckOnly: boolean;
      /** 0: no age filter. */
      olderThanMs: number;
      /** '' : any participant. */
      participant: string;
      pageSize: number;
      /** Follow next_page_token to the end. */
      all: boolean;
      pageToken: string;
    }
  | { name: 'show'; gid: string }
  | { name: 'retry'; gid: string }
  | { name: 'retry-stuck' }
  | { name: 'abort'; gid: string; reason: string }
  | { name: 'resolve'; gid: string; branchId: string; reason: string };

export type ParsedCommandLine =
  | { kind: 'help'; command?: CommandName }
  | { kind: 'run'; settings: TccctlSettings; command: TccctlCommand };

const OPTIONS = {
  addr: { type: 'string' },
  token: { type: 'string' },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  operator: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  status: { type: 'string', multiple: true },
  stuck: { type: 'boolean' },
  'older-than': { type: 'string' },
  participant: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  'page-token': { type: 'string' },
  reason: { type: 'string' },
} as const;

type OptionName = keyof typeof OPTIONS;

const GLOBAL_OPTIONS: readonly OptionName[] = ['addr', 'token', 'tls-ca', 'tls-cert', 'tls-key', 'operator', 'timeout', 'json', 'help'];

/** Options each command takes besides the global ones; any other is a usage error rather than silently ignored. */
const COMMAND_OPTIONS: Record<CommandName, readonly OptionName[]> = {
  list: ['status', 'stuck', 'older-than', 'participant', 'limit', 'all', 'page-token'],
  show: [],
  retry: ['stuck'],
  abort: ['reason'],
  resolve: ['reason'],
};

function isCommand(name: string | undefined): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name ?? '');
}

/** parseArgs' messages are long and mention JavaScript; keep the part an operator needs. */
function usageFromParseError(err: unknown): UsageError {
  const code = (err as { code?: string }).code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  const option = /'(-[^' ]*)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return new UsageError(`unknown option ${option}`);
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    return new UsageError(`option ${option} needs a value${/ambiguous/.test(message) ? ' (to pass one starting with "-", write --opt=value)' : ''}`);
  }
  return new UsageError(message.split('. ')[0]);
}

function statusesOf(values: readonly string[] | undefined): StatusName[] {
  const out: StatusName[] = [];
  for (const raw of (values ?? []).flatMap((v) => v.split(','))) {
    const s = raw.trim().toUpperCase();
    if (!s) continue;
    if (!(STATUSES as readonly string[]).includes(s)) {
      throw new UsageError(`--status must be one of ${STATUSES.join(', ')}; got "${raw.trim()}"`);
    }
    if (!out.includes(s as StatusName)) out.push(s as StatusName);
  }
  return out;
}

function positionalCount(command: string, positionals: readonly string[], names: readonly string[]): void {
  if (positionals.length < names.length) {
    throw new UsageError(`${command} needs ${names.map((n) => n.toUpperCase()).join(' ')}: tccctl ${command} ${names.map((n) => n.toUpperCase()).join(' ')}`);
  }
  if (positionals.length > names.length) throw new UsageError(`${command}: unexpected argument "${positionals[names.length]}"`);
  for (let i = 0; i < names.length; i++) {
    if (positionals[i].trim() === '') throw new UsageError(`${command}: ${names[i].toUpperCase()} must not be empty`);
  }
}

function requiredText(value: string | undefined, what: string): string {
  const v = value?.trim() ?? '';
  if (!v) throw new UsageError(what);
  return v;
}

/**
 * Parses `argv` (without `node` and the script). Global options may come
 * before or after the command. Throws {@link UsageError} for anything wrong,
 * before any call is made.
 */
export function parseCommandLine(argv: readonly string[], env: TccctlEnvironment): ParsedCommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // `tccctl list --bogus --help` still deserves the help it asked for.
    if (argv.includes('--help') || argv.includes('-h')) {
      const first = argv.find((a) => !a.startsWith('-'));
      return { kind: 'help', command: isCommand(first) ? first : undefined };
    }
    throw usageFromParseError(err);
  }
  const { values, positionals } = parsed;
  const [name, ...args] = positionals;

  if (name === 'help') return { kind: 'help', command: isCommand(args[0]) ? args[0] : undefined };
  if (values.help) return { kind: 'help', command: isCommand(name) ? name : undefined };
  if (name === undefined) throw new UsageError(`no command given; commands: ${COMMAND_NAMES.join(', ')}`);
  if (!isCommand(name)) throw new UsageError(`unknown command "${name}"; commands: ${COMMAND_NAMES.join(', ')}`);

  const allowed = new Set<OptionName>([...GLOBAL_OPTIONS, ...COMMAND_OPTIONS[name]]);
  for (const key of Object.keys(values) as OptionName[]) {
    if (!allowed.has(key)) throw new UsageError(`option --${key} does not apply to ${name}`);
  }

  const settings = resolveSettings(values, env);
  return { kind: 'run', settings, command: buildCommand(name, args, values) };
}

function buildCommand(name: CommandName, args: string[], values: Partial<Record<OptionName, string | boolean | string[]>>): TccctlCommand {
  const str = (k: OptionName) => values[k] as string | undefined;
  switch (name) {
    case 'list': {
      positionalCount('list', args, []);
      let olderThanMs = 0;
      if (str('older-than') !== undefined) {
        const ms = parseDuration(str('older-than')!);
        if (ms === undefined || ms <= 0) {
          throw new UsageError(`--older-than takes a span like 30s, 10m, 2h, 1d or a number of ms; got "${str('older-than')}"`);
        }
        olderThanMs = ms;
      }
      let pageSize = DEFAULT_PAGE_SIZE;
      const limit = str('limit');
      if (limit !== undefined) {
        pageSize = Number(limit);
        if (!/^\d+$/.test(limit.trim()) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
          throw new UsageError(`--limit must be a whole number from 1 to ${MAX_PAGE_SIZE}; got "${limit}"`);
        }
      }
      const participant = str('participant');
      if (participant !== undefined && participant.trim() === '') throw new UsageError('--participant must not be empty');
      return {
        name: 'list',
        statuses: statusesOf(values.status as string[] | undefined),
        stuckOnly: values.stuck === true,
        olderThanMs,
        participant: participant?.trim() ?? '',
        pageSize,
        all: values.all === true,
        pageToken: str('page-token')?.trim() ?? '',
      };
    }
    case 'show':
      positionalCount('show', args, ['gid']);
      return { name: 'show', gid: args[0] };
    case 'retry':
      if (values.stuck === true) {
        if (args.length > 0) throw new UsageError('retry takes either GID or --stuck, not both');
        return { name: 'retry-stuck' };
      }
      positionalCount('retry', args, ['gid']);
      return { name: 'retry', gid: args[0] };
    case 'abort':
      positionalCount('abort', args, ['gid']);
      if (str('reason') !== undefined) requiredText(str('reason'), '--reason must not be empty');
      return { name: 'abort', gid: args[0], reason: str('reason')?.trim() ?? '' };
    case 'resolve':
      positionalCount('resolve', args, ['gid', 'branch']);
      return {
        name: 'resolve',
        gid: args[0],
        branchId: args[1],
        reason: requiredText(str('reason'), 'resolve needs --reason TEXT: what was fixed by hand, and why (it is recorded with your name)'),
      };
  }
}
