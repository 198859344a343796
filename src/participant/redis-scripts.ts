import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BranchPhase } from './branch-call';

/**
 * The Redis barrier's Lua sources, `src/participant/lua/` in the repository.
 * They are read at run time from the source tree, like `proto/` (this file
 * runs from `dist/src/participant/`), so an image or package that ships
 * `dist/` must ship this folder too.
 */
export const LUA_ROOT = path.resolve(__dirname, '..', '..', '..', 'src', 'participant', 'lua');

/** The script file of each phase, in {@link LUA_ROOT}. */
export const BARRIER_SCRIPT_FILES: Readonly<Record<BranchPhase, string>> = {
  try: 'barrier-try.lua',
  confirm: 'barrier-confirm.lua',
  cancel: 'barrier-cancel.lua',
};

// A whole line `-- @include <name>` stands for the file `<name>.lua` of the
// same folder. It is a Lua comment, so the unexpanded file is still valid Lua
// for editors and linters.
const INCLUDE = /^--[ \t]*@include[ \t]+([A-Za-z0-9_-]+)[ \t]*$/gm;
const HAS_INCLUDE = /^--[ \t]*@include\b/m;

/**
 * Reads a script and expands its `-- @include <name>` lines (one level:
 * fragments include nothing, so there are no cycles or order questions).
 * Throws when a file is missing, naming the folder the scripts were looked for in.
 */
export function loadLuaScript(file: string, root: string = LUA_ROOT): string {
  const source = readScriptFile(root, file);
  const seen = new Set<string>();
  const expanded = source.replace(INCLUDE, (_line, name: string) => {
    if (seen.has(name)) throw new Error(`Lua script ${file}: ${name} is included twice`);
    seen.add(name);
    const fragment = readScriptFile(root, `${name}.lua`);
    if (HAS_INCLUDE.test(fragment)) throw new Error(`Lua fragment ${name}.lua: fragments cannot include others`);
    return fragment.replace(/\n$/, '');
  });
  // A misspelt directive would otherwise stay a comment and fail only when Redis runs the script.
  if (HAS_INCLUDE.test(expanded)) throw new Error(`Lua script ${file}: malformed @include line`);
  return expanded;
}

function readScriptFile(root: string, file: string): string {
  const full = path.join(root, file);
  try {
    return fs.readFileSync(full, 'utf8');
  } catch (err) {
    throw new Error(
      `Redis barrier script ${full} cannot be read: the .lua files of src/participant/lua/ must be shipped along with dist/`,
      { cause: err },
    );
  }
}

let cached: Readonly<Record<BranchPhase, string>> | undefined;

/** The three barrier scripts, expanded; read once per process. */
export function barrierScripts(): Readonly<Record<BranchPhase, string>> {
  cached ??= {
    try: loadLuaScript(BARRIER_SCRIPT_FILES.try),
    confirm: loadLuaScript(BARRIER_SCRIPT_FILES.confirm),
    cancel: loadLuaScript(BARRIER_SCRIPT_FILES.cancel),
  };
  return cached;
}
