import protobuf from 'protobufjs';
import { escapeRegex, type GeneratedRoute } from './document.js';
import { ProfileError } from './errors.js';

// One route per rpc of every service in a .proto file, as `linkerd profile --proto` makes
// them: POST to the gRPC path `/package.Service/Method`, named by the method, retryable
// when the method's idempotency_level says it is safe to repeat.

/** The services of `namespace` and the namespaces in it, in the file's order. */
function servicesOf(namespace: protobuf.NamespaceBase): protobuf.Service[] {
  return namespace.nestedArray.flatMap((nested) => {
    if (nested instanceof protobuf.Service) return [nested];
    return nested instanceof protobuf.Namespace ? servicesOf(nested) : [];
  });
}

function isIdempotent(method: protobuf.Method): boolean {
  const options = method.options ?? {};
  return Object.entries(options).some(
    ([key, value]) =>
      key.includes('idempotency_level') && (value === 'IDEMPOTENT' || value === 'NO_SIDE_EFFECTS'),
  );
}

function parseProto(text: string, source: string): protobuf.Root {
  try {
    // Only this file: its imports are neither read nor needed for the services' names.
    return protobuf.parse(text, { keepCase: true }).root;
  } catch (err) {
    const message = (err as Error).message;
    const line = / \(line (\d+)\)$/.exec(message);
    const where = line ? ` line ${line[1]}:` : '';
    throw new ProfileError(
      `${source}:${where} not a valid .proto file: ${message.replace(/ \(line \d+\)$/, '')}`,
    );
  }
}

/** The routes of a .proto file's services. */
export function protoRoutes(text: string, source: string): GeneratedRoute[] {
  const services = servicesOf(parseProto(text, source));
  if (services.length === 0) {
    throw new ProfileError(
      `${source}: defines no service (a profile from a .proto has a route per rpc of its services)`,
    );
  }
  const methods = services.flatMap((service) =>
    service.methodsArray.map((method) => ({
      method,
      // fullName is `.package.Service`; the gRPC path has no leading dot.
      path: `/${service.fullName.slice(1)}/${method.name}`,
    })),
  );
  if (methods.length === 0) throw new ProfileError(`${source}: its services define no rpc`);
  const count = new Map<string, number>();
  for (const { method } of methods) count.set(method.name, (count.get(method.name) ?? 0) + 1);
  return methods.map(({ method, path }) => ({
    // Linkerd names a route by its method alone; two services' methods of the same name
    // would make duplicate route names, so those are named by their full path instead.
    name: (count.get(method.name) ?? 0) > 1 ? path : method.name,
    condition: { method: 'POST', pathRegex: escapeRegex(path) },
    ...(isIdempotent(method) ? { isRetryable: true as const } : {}),
  }));
}
