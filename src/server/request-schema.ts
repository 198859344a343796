import type * as grpc from '@grpc/grpc-js';
import { Root, type Type } from 'protobufjs';
import { FileDescriptorProto } from 'protobufjs/ext/descriptor';

/** Roots built per set of file descriptors (one per loaded proto package definition). */
const roots = new WeakMap<readonly Buffer[], Root>();

function rootOf(files: readonly Buffer[]): Root {
  const root = roots.get(files);
  if (!root) {
    // ext/descriptor adds fromDescriptor to Root at run time; its typings do not declare it.
    const withDescriptors = Root as unknown as { fromDescriptor(this: void, set: { file: unknown[] }): Root };
    const built = withDescriptors.fromDescriptor({ file: files.map((b) => FileDescriptorProto.decode(b)) });
    built.resolveAll();
    roots.set(files, built);
    return built;
  }
  return root;
}

/**
 * The protobufjs type of a method's request, from the file descriptors that
 * proto-loader attaches to the method (ours, grpc-health-check's and
 * reflection's all carry them); undefined when the definition has none.
 */
export function requestTypeOf(def: grpc.MethodDefinition<unknown, unknown>): Type | undefined {
  const files = (def as { requestType?: { fileDescriptorProtos?: Buffer[] } }).requestType?.fileDescriptorProtos;
  const m = /^\/([^/]+)\/([^/]+)$/.exec(def.path);
  if (!files || !m) return undefined;
  try {
    return rootOf(files).lookupService(m[1]).methods[m[2]]?.resolvedRequestType ?? undefined;
  } catch {
    return undefined;
  }
}
