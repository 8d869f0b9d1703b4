/**
 * Preloaded into every test process (scripts/run-tests.js passes it to `node --test` with
 * --import): a MaxListenersExceededWarning, the mark of a listener added per request or
 * attempt, fails the test file that emitted it. The helpers that start weft processes
 * fail on the same warning in a child's stderr (test/helpers/proxy.ts).
 */
export const LEAK_WARNING = 'MaxListenersExceededWarning';

process.on('warning', (w: Error) => {
  if (w.name !== LEAK_WARNING) return;
  process.exitCode = 1;
  // Thrown from the warning's tick: an uncaught exception fails the test that is running.
  throw new Error(`${LEAK_WARNING} emitted in the test process: ${w.message}`);
});

/**
 * Throws if `line`, from a child process's stderr, is Node's report of the warning
 * (`(node:PID) MaxListenersExceededWarning: ...`): thrown from the pipe's event, it fails
 * the test that is running.
 */
export function failOnLeakWarning(line: string, what: string): void {
  if (line.includes(`${LEAK_WARNING}:`)) throw new Error(`${what} emitted a ${LEAK_WARNING}: ${line}`);
}
