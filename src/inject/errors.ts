/** Input that cannot be injected or uninjected: the message names the file, document and problem (exit 1). */
export class InjectError extends Error {
  override name = 'InjectError';
}
